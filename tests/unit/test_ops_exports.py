"""``keyark.ops`` imports operation modules on first use: its static table stays exact.

``keyark.ops.OPERATIONS`` maps each operation module to its public names so that a face
importing ``keyark.ops`` loads only the operations it uses (issue 11, section 3). The table
is the one list: an operation module has no ``__all__``; its public names are what type
checkers see through ``from keyark.ops.<module> import *`` (what it defines without a
leading ``_`` and what it re-exports as ``from m import X as X``).
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from keyark import ops
from keyark.ops.catalogue import Operation

#: Modules of ``keyark/ops`` that are not operation modules.
NOT_OPERATIONS = {"__init__", "catalogue", "session", "table"}


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


def _public_names(source: str) -> set[str]:
    """The names a star import of a module without ``__all__`` gives a strict type checker.

    What the module's top level defines (functions, classes, assignments) without a
    leading ``_``, and the names it re-exports as ``from m import X as X``.
    """
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom):
            names.update(alias.name for alias in node.names if alias.asname == alias.name)
    return {name for name in names if not name.startswith("_")}


@pytest.mark.parametrize("module", sorted(ops.OPERATIONS))
def test_each_entry_is_its_module_public_names(module: str) -> None:
    loaded = importlib.import_module(f"keyark.ops.{module}")
    assert not hasattr(loaded, "__all__"), (
        f"keyark.ops.{module} lists its names in keyark.ops.OPERATIONS, not in __all__"
    )
    source = Path(loaded.__file__ or "").read_text(encoding="utf-8")
    assert sorted(ops.OPERATIONS[module]) == sorted(_public_names(source)), (
        f"set keyark.ops.OPERATIONS[{module!r}] to the public names of keyark.ops.{module} "
        "(re-export an imported name as `from m import X as X`; a helper's name starts with _)"
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
    assert before == ["keyark.ops.table"]  # the table of names, no operation
    assert set(after) == {
        "keyark.ops.table",
        "keyark.ops.snapshots",
        "keyark.ops.catalogue",
        "keyark.ops.session",
    }


def test_the_catalogue_is_complete_in_a_fresh_process() -> None:
    """``ops.CATALOGUE`` imports every operation module before it is read."""
    for module in ops.OPERATIONS:
        importlib.import_module(f"keyark.ops.{module}")
    shown = _probe(
        "import json\nfrom keyark import ops\nprint(json.dumps(sorted(ops.CATALOGUE)))\n"
    )
    assert json.loads(shown) == sorted(ops.CATALOGUE)
    assert ops.load_catalogue() is ops.CATALOGUE
