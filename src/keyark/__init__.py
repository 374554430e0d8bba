"""keyark: encrypted, deduplicated, verifiable backups of keys, secrets and any other files.

The Python API: :class:`Client` (every operation of ``keyark.ops.CATALOGUE``),
:class:`BackupManager` for everyday use, :class:`Repository` for
low-level access, and the typed results every operation returns. Names are
imported on first use so the command line starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keyark.exports import lazy_exports
from keyark.process import disable_core_dumps

__version__ = "0.1.0"

# Secrets never land in a core dump, whichever face loaded keyark (issue 8, section 9).
disable_core_dumps()

if TYPE_CHECKING:
    from keyark.api import BackupManager, Client, ManagerConfig
    from keyark.errors import KeyarkError
    from keyark.repo.repository import Repository
    from keyark.repo.snapshot import Snapshot
    from keyark.results import BackupSummary, CheckSummary, RestoreSummary

_EXPORTS = {
    "BackupManager": "keyark.api",
    "Client": "keyark.api",
    "ManagerConfig": "keyark.api",
    "KeyarkError": "keyark.errors",
    "Repository": "keyark.repo.repository",
    "Snapshot": "keyark.repo.snapshot",
    "BackupSummary": "keyark.results",
    "CheckSummary": "keyark.results",
    "RestoreSummary": "keyark.results",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = [
    "BackupManager",
    "BackupSummary",
    "CheckSummary",
    "Client",
    "KeyarkError",
    "ManagerConfig",
    "Repository",
    "RestoreSummary",
    "Snapshot",
    "__version__",
]
