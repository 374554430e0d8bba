"""``debug cat``: one repository object as JSON-ready data (never key material).

Decrypted objects (snapshots, trees, index files) are shown as they are, so the
operation reads secret content; see :mod:`keyark.repo.inspect`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keyark.catalog.snapshots import list_snapshots
from keyark.context import OperationContext
from keyark.errors import NotFoundError, UsageError
from keyark.ops.catalogue import operation
from keyark.ops.session import opened
from keyark.repo.inspect import KINDS, cat, only_match
from keyark.repo.locks import SHARED_MARK
from keyark.repo.repository import Repository
from keyark.repo.snapshot import select_snapshot

#: The kinds of object ``debug cat`` shows.
DEBUG_KINDS = KINDS


@dataclass(frozen=True)
class DebugCatOptions:
    """The kind of object (one of :data:`DEBUG_KINDS`) and its id or a unique prefix."""

    kind: str
    object_id: str = ""


@dataclass(frozen=True)
class DebugObject:
    """One object's view; ``to_dict()`` is the view itself."""

    kind: str
    view: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.view)


@operation(
    "debug cat",
    options=DebugCatOptions,
    result=DebugObject,
    mutates=False,
    reads_secrets=True,
    secret_result=True,  # the decrypted object: never in events or the audit log
)
def debug_cat(ctx: OperationContext, options: DebugCatOptions) -> DebugObject:
    """Show one repository object (config, keyring, key, snapshot, index, pack, blob, lock).

    A snapshot may be ``latest``, a blob a unique id prefix, and a lock a unique id
    prefix (without one, every lock is shown).
    """
    ref = options.object_id.strip()
    with opened(ctx) as repo:
        if options.kind == "snapshot" and ref in ("", "latest"):
            ref = select_snapshot(list_snapshots(repo, ctx), "latest").id
        elif options.kind == "blob":
            ref = _blob_id(repo, ref)
        view = cat(repo, options.kind, ref)
        if options.kind == "lock" and ref:
            view = _one_lock(view, ref)
        return DebugObject(options.kind, view)


def _blob_id(repo: Repository, ref: str) -> str:
    """The full id of the indexed blob ``ref`` names (a unique prefix of its hex id)."""
    ref = ref.lower()
    if not ref or len(ref) > 64 or any(c not in "0123456789abcdef" for c in ref):
        raise UsageError("a blob id is up to 64 hex digits (a unique prefix is enough)")
    repo.blobs.load_index()
    matches = [loc.blob_id.hex() for loc in repo.blobs.index.locations()]
    found = [blob for blob in matches if blob.startswith(ref)]
    if not found:
        raise NotFoundError(f"blob {ref[:16]} is not in the index")
    if len(found) > 1:
        raise UsageError(f"blob id {ref!r} is ambiguous; give more digits")
    return found[0]


def _lock_id_matches(name: str, ref: str) -> bool:
    """Whether lock object ``name``'s id, or a shared lock's random part, starts with ``ref``."""
    lock_id = name.rsplit("/", 1)[-1]
    return lock_id.startswith(ref) or lock_id.removeprefix(SHARED_MARK).startswith(ref)


def _one_lock(view: dict[str, Any], ref: str) -> dict[str, Any]:
    """The one lock of ``view`` whose id starts with ``ref``.

    A shared lock's id is ``shared-<random>``; its random part alone names it too, so
    ``shared-`` plus one digit is never the only way to pick one of several shared locks.
    """
    ref = ref.lower()
    found = [lock for lock in view["locks"] if _lock_id_matches(str(lock["name"]), ref)]
    return dict(only_match(found, ref, "lock"))
