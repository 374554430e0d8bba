"""Which blobs the snapshots use: the walk prune plans from (and its refusals).

Every snapshot must be readable and every tree and data blob it reaches indexed;
otherwise prune refuses (:func:`refusal`) before it writes or deletes anything.
Except an agent's snapshot (sealed with a session key, not a keyring data key):
one that cannot be read or walked is skipped with a :class:`Note`, and every pack
sealed with its session key is kept, so agent-written garbage never blocks prune
and never costs genuine data.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import NamedTuple, Protocol

from keyark.cancel import NEVER, CancelToken
from keyark.catalog.trees import unique_trees
from keyark.errors import BackendError, Hint, IntegrityError, KeyarkError
from keyark.events import Code
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot
from keyark.repo.tree import FILE, Node


def refusal(message: str) -> IntegrityError:
    """Prune's error for damage it will not work around (nothing was deleted)."""
    return IntegrityError(f"{message}; prune deleted nothing", hint=Hint.REPAIR)


class Note(NamedTuple):
    """Something the plan passed over, as the warning it becomes."""

    code: Code
    message: str


class Passed(Protocol):
    """Where the walk records what it passed over (a prune plan)."""

    notes: list[Note]
    #: Session keys of unreadable agent snapshots: every pack they sealed is kept.
    kept_keys: set[bytes]


def read_snapshots(
    repo: Repository,
    unreadable: Callable[[str, KeyarkError], None],
    cancel: CancelToken = NEVER,
) -> list[Snapshot]:
    """Every snapshot that loads; ``unreadable(id, error)`` deals with the others."""
    found = []
    for snapshot_id in repo.snapshots.ids():
        cancel.check()
        try:
            found.append(repo.snapshots.load(snapshot_id))
        except (IntegrityError, BackendError) as error:
            unreadable(snapshot_id, error)
    return found


def load_all_snapshots(
    repo: Repository, plan: Passed | None = None, cancel: CancelToken = NEVER
) -> list[Snapshot]:
    """Every snapshot; one that cannot be read stops prune (its data would be lost).

    Except an agent's: a snapshot not sealed with a keyring data key that cannot be read
    is skipped and noted, and every pack sealed with its session key is kept (``plan``).
    """

    def refuse(snapshot_id: str, error: KeyarkError) -> None:
        key_id = _snapshot_key(repo, snapshot_id)
        if plan is not None and key_id is not None and key_id not in repo.keys.keyring.data_keys:
            plan.notes.append(
                Note(
                    Code.SNAPSHOT_DAMAGED,
                    f"agent snapshot {snapshot_id[:8]} cannot be read ({error}); skipped, "
                    "and every pack of its session is kept",
                )
            )
            plan.kept_keys.add(key_id)
            return
        raise refusal(f"snapshot {snapshot_id[:8]} cannot be read ({error})")

    return read_snapshots(repo, refuse, cancel)


def _snapshot_key(repo: Repository, snapshot_id: str) -> bytes | None:
    """The key id a stored snapshot's envelope names (None if unreadable)."""
    try:
        return repo.snapshots.key_id_of(snapshot_id)
    except (IntegrityError, BackendError):
        return None


def used_blobs(
    repo: Repository,
    snapshots: list[Snapshot],
    excluded: Collection[str] = (),
    plan: Passed | None = None,
    cancel: CancelToken = NEVER,
) -> set[bytes]:
    """Ids of every tree and data blob the snapshots (but not ``excluded``) reach.

    A full-key snapshot whose trees cannot be walked stops prune. An agent snapshot's
    (one sealed with a session key) is skipped and noted in ``plan``, and every pack
    sealed with that session key is kept: agent-written garbage never blocks prune and
    never costs genuine data.
    """
    used: set[bytes] = set()
    for snapshot in snapshots:
        if snapshot.id in excluded:
            continue
        cancel.check()
        key_id = bytes.fromhex(snapshot.key_id) if snapshot.key_id else b""
        agent_written = plan is not None and key_id and key_id not in repo.keys.keyring.data_keys
        try:
            _walk_snapshot(repo, snapshot.tree, used, cancel)
        except IntegrityError as error:
            if not agent_written or plan is None:
                raise
            plan.notes.append(
                Note(
                    Code.SNAPSHOT_DAMAGED,
                    f"agent snapshot {snapshot.short_id} cannot be walked ({error}); skipped, "
                    "and every pack of its session is kept",
                )
            )
            plan.kept_keys.add(key_id)
    return used


def _walk_snapshot(repo: Repository, root: bytes, used: set[bytes], cancel: CancelToken) -> None:
    def load(tree_id: bytes) -> list[Node]:
        if tree_id not in repo.blobs.index:
            raise refusal(f"tree {tree_id.hex()[:16]} is not in the index")
        try:
            return repo.blobs.load_tree(tree_id)
        except (IntegrityError, BackendError) as error:
            raise refusal(f"tree {tree_id.hex()[:16]} cannot be read ({error})") from None

    for tree_id, nodes in unique_trees(load, [root], known=used.__contains__, cancel=cancel):
        used.add(tree_id)
        for node in nodes:
            if node.type == FILE:
                for blob_id in node.content:
                    if blob_id not in repo.blobs.index:
                        raise refusal(f"data blob {blob_id.hex()[:16]} is not in the index")
                    used.add(blob_id)


__all__ = [
    "Note",
    "Passed",
    "load_all_snapshots",
    "read_snapshots",
    "refusal",
    "used_blobs",
]
