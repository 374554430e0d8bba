"""Reading the audit log of an open repository: both copies, checked (see ``verify``)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

from keyark.audit.keys import AuditKeys
from keyark.audit.local import PENDING, WRITER_FILE, LocalLog
from keyark.audit.policy import AuditPolicy
from keyark.audit.remote import RemoteLog
from keyark.audit.target import AuditTarget
from keyark.audit.verify import Outcome, check
from keyark.audit.writer import write


def this_writer(root: Path) -> str | None:
    """This machine's writer id, when it has written a record (never created here)."""
    try:
        return (root / WRITER_FILE).read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def read_log(
    repo: Any, policy: AuditPolicy, target: AuditTarget, url: str | None, *, restore: bool = False
) -> Outcome:
    """Verify and merge the audit log of ``repo`` (an open repository with a full key).

    Records pending for ``url`` (failed unlocks) are chained first. This machine's
    writer lock is held while its local file and the repository copy are read, so a
    concurrent append is never mistaken for a deletion.
    """
    root = policy.root()
    if (root / PENDING).is_dir():
        write(policy, None, [target], url)
    keys = AuditKeys(repo.audit_secret)
    local = LocalLog(root, repo.repo_id)
    writer = this_writer(root)
    with ExitStack() as stack:
        if writer is not None and local.directory.is_dir():
            stack.enter_context(local.lock(writer))
        scan = RemoteLog(repo.backend, keys).scan()
        return check(keys, scan, local, writer, restore=restore)


__all__ = ["read_log", "this_writer"]
