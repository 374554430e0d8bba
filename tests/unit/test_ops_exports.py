"""``keyark.ops`` imports operation modules on first use: its static table stays exact.

``keyark.ops.OPERATIONS`` maps each operation module to its ``__all__`` so that a face
importing ``keyark.ops`` loads only the operations it uses (issue 11, section 3).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from keyark import ops
from keyark.ops.catalogue import Operation

#: Modules of ``keyark/ops`` that are not operation modules.
NOT_OPERATIONS = {"__init__", "catalogue", "session"}


def _probe(code: str) -> str:
    """Run ``code`` in a fresh interpreter (nothing of keyark loaded) and return stdout."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout


def test_the_table_lists_every_operation_module() -> None:
    folder = Path(ops.__file__).parent
    modules = {path.stem for path in folder.glob("*.py")} - NOT_OPERATIONS
    assert modules == set(ops.OPERATIONS), (
        "keep keyark.ops.OPERATIONS equal to the operation modules of keyark/ops"
    )


@pytest.mark.parametrize("module", sorted(ops.OPERATIONS))
def test_each_entry_is_its_module_all(module: str) -> None:
    loaded = importlib.import_module(f"keyark.ops.{module}")
    assert sorted(ops.OPERATIONS[module]) == sorted(loaded.__all__), (
        f"set keyark.ops.OPERATIONS[{module!r}] to keyark.ops.{module}.__all__"
    )


def test_every_exported_name_is_its_module_object() -> None:
    owners = {name: module for module, names in ops.OPERATIONS.items() for name in names}
    for name in ops.__all__:
        value = getattr(ops, name)
        if name in owners:
            source = importlib.import_module(f"keyark.ops.{owners[name]}")
            assert value is getattr(source, name), name
    assert len(set(ops.__all__)) == len(ops.__all__), "a name is exported twice"


def test_an_operation_wins_over_its_module_of_the_same_name() -> None:
    """Importing ``keyark.ops.snapshots`` directly still leaves ``ops.snapshots`` the operation."""
    shown = _probe(
        "import keyark.ops.snapshots, keyark.ops.backup\n"
        "from keyark import ops\n"
        "from keyark.ops import backup\n"
        "print(type(ops.snapshots).__name__, type(backup).__name__, type(ops.keys).__name__)\n"
    )
    assert shown.split() == ["Operation", "Operation", "module"]
    assert isinstance(ops.snapshots, Operation) and isinstance(ops.backup, Operation)


def test_importing_ops_loads_no_operation_and_one_name_loads_its_module_only() -> None:
    shown = _probe(
        "import json, sys\n"
        "from keyark import ops\n"
        "before = sorted(m for m in sys.modules if m.startswith('keyark.ops.'))\n"
        "ops.SnapshotsOptions\n"
        "after = sorted(m for m in sys.modules if m.startswith('keyark.ops.'))\n"
        "print(json.dumps([before, after]))\n"
    )
    before, after = json.loads(shown)
    assert before == []
    assert set(after) == {"keyark.ops.snapshots", "keyark.ops.catalogue", "keyark.ops.session"}


def test_the_catalogue_is_complete_in_a_fresh_process() -> None:
    """``ops.CATALOGUE`` imports every operation module before it is read."""
    for module in ops.OPERATIONS:
        importlib.import_module(f"keyark.ops.{module}")
    shown = _probe(
        "import json\nfrom keyark import ops\nprint(json.dumps(sorted(ops.CATALOGUE)))\n"
    )
    assert json.loads(shown) == sorted(ops.CATALOGUE)
    assert ops.load_catalogue() is ops.CATALOGUE
