"""The operation catalogue: the one core every face (CLI, Python API, daemon, HTTP) calls.

Each operation takes an :class:`OperationContext` and typed options and returns a
typed result with ``to_dict()``; :data:`CATALOGUE` lists them with their options
and result types and whether they change the repository or read secret content.
Faces import this package, :mod:`keyark.config`, :mod:`keyark.events` and
:mod:`keyark.errors`, and nothing else of keyark (``tests/unit/test_face_imports.py``).

Start-up stays light: an operation module is imported when one of its names is first
used (``ops.snapshots`` loads :mod:`keyark.ops.snapshots` only), from the static table
:data:`OPERATIONS`: the one list of each operation module's public names. An operation
module has no ``__all__`` of its own: its public names are what it defines without a
leading ``_`` and what it re-exports as ``from m import X as X`` (the rule type checkers
apply to the star imports below); ``tests/unit/test_ops_exports.py`` keeps them equal to
its entry in the table. :data:`CATALOGUE` (or :func:`load_catalogue`) imports every
operation module first, so it is always complete.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from keyark.ops.table import OPERATIONS as OPERATIONS

if TYPE_CHECKING:  # every name for type checkers; at run time each is imported on first use
    from keyark.context import Actor as Actor
    from keyark.context import OperationContext as OperationContext
    from keyark.ops.access import *  # noqa: F403
    from keyark.ops.agents import *  # noqa: F403
    from keyark.ops.audit import *  # noqa: F403
    from keyark.ops.backend import *  # noqa: F403
    from keyark.ops.backup import *  # noqa: F403
    from keyark.ops.browse import *  # noqa: F403
    from keyark.ops.catalog import *  # noqa: F403
    from keyark.ops.catalogue import CATALOGUE as CATALOGUE
    from keyark.ops.catalogue import Operation as Operation
    from keyark.ops.catalogue import Result as Result
    from keyark.ops.catalogue import operation as operation
    from keyark.ops.check import *  # noqa: F403
    from keyark.ops.compliance import *  # noqa: F403
    from keyark.ops.control import *  # noqa: F403
    from keyark.ops.copy import *  # noqa: F403
    from keyark.ops.debug import *  # noqa: F403
    from keyark.ops.drill import *  # noqa: F403
    from keyark.ops.dump import *  # noqa: F403
    from keyark.ops.erase import *  # noqa: F403
    from keyark.ops.exchange import *  # noqa: F403
    from keyark.ops.fleet import *  # noqa: F403
    from keyark.ops.forget import *  # noqa: F403
    from keyark.ops.inventory import *  # noqa: F403
    from keyark.ops.jobs import *  # noqa: F403
    from keyark.ops.keys import *  # noqa: F403
    from keyark.ops.metrics import *  # noqa: F403
    from keyark.ops.monitor import *  # noqa: F403
    from keyark.ops.mount import *  # noqa: F403
    from keyark.ops.prune import *  # noqa: F403
    from keyark.ops.repair import *  # noqa: F403
    from keyark.ops.repository import *  # noqa: F403
    from keyark.ops.restore import *  # noqa: F403
    from keyark.ops.rewrite import *  # noqa: F403
    from keyark.ops.rollback import *  # noqa: F403
    from keyark.ops.rotation import *  # noqa: F403
    from keyark.ops.server_tasks import *  # noqa: F403
    from keyark.ops.snapshots import *  # noqa: F403
    from keyark.ops.stats import *  # noqa: F403
    from keyark.ops.tag import *  # noqa: F403
    from keyark.ops.unlock import *  # noqa: F403
    from keyark.ops.verify import *  # noqa: F403
    from keyark.storage import init_repository as init_repository  # repository level (tests)
    from keyark.storage import open_repository as open_repository
    from keyark.units import parse_seconds as parse_seconds

#: The other names of this package -> the module defining each.
_PLUMBING = {
    "Actor": "keyark.context",
    "OperationContext": "keyark.context",
    "Operation": "keyark.ops.catalogue",
    "Result": "keyark.ops.catalogue",
    "operation": "keyark.ops.catalogue",
    "init_repository": "keyark.storage",
    "open_repository": "keyark.storage",
    "parse_seconds": "keyark.units",
}
#: Names an operation module re-exports that a lighter module defines: a face that needs
#: only the parser does not load the operation (``snapshots --group-by`` and forget).
_LIGHTER = {"parse_group_by": "keyark.maintenance.retention"}
#: Every name of :data:`__all__` but ``CATALOGUE`` -> the module to import it from.
_EXPORTS = (
    _PLUMBING
    | {name: f"{__name__}.{module}" for module, names in OPERATIONS.items() for name in names}
    | _LIGHTER
)

__all__ = ["CATALOGUE", "load_catalogue"]
__all__ += list(_EXPORTS)


def load_catalogue() -> dict[str, Operation[Any, Any]]:
    """Every operation by name (:data:`CATALOGUE`), each operation module imported first."""
    for module in OPERATIONS:
        importlib.import_module(f"{__name__}.{module}")
    from keyark.ops.catalogue import CATALOGUE

    return CATALOGUE


if not TYPE_CHECKING:  # for type checkers each name is imported above

    def __getattr__(name: str) -> Any:
        """Import a name's module on first use; ``CATALOGUE`` imports them all."""
        if name == "CATALOGUE":
            value = load_catalogue()
        elif name in _EXPORTS:
            value = getattr(importlib.import_module(_EXPORTS[name]), name)
        elif not name.startswith("__"):  # a name missing from OPERATIONS (a test fails)
            load_catalogue()
            if name not in globals():
                raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
            return globals()[name]
        else:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        globals()[name] = value
        return value

    class _Package(types.ModuleType):
        """This package, whose operation names win over its submodules of the same name.

        Importing ``keyark.ops.snapshots`` (from anywhere) makes the import system set
        the package attribute ``snapshots`` to the module; the operation ``snapshots``
        is what faces mean, so the module's exported names are set instead.
        """

        def __setattr__(self, name: str, value: object) -> None:
            if isinstance(value, types.ModuleType) and name in OPERATIONS:
                exported = {item: getattr(value, item) for item in OPERATIONS[name]}
                self.__dict__.update(exported)
                if name in exported:
                    return
            super().__setattr__(name, value)

    sys.modules[__name__].__class__ = _Package
