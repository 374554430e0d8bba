"""``copy``: snapshots from one repository into another, re-encrypted under the target's keys.

Blob ids are keyed per repository and chunk boundaries are seeded per
repository, so content is streamed out of the source, re-chunked and re-hashed
in the target's key space, and deduplicated against what the target holds.
Shared subtrees and identical files are copied once (memoised by source id).
A copied snapshot records its source id; copying it again adds nothing.
An interrupted copy is resumed: the packs it uploaded are adopted on the target
(:mod:`keyark.repo.adoption`) before anything dedups, so the next run reuses them.

Trust follows the data (design D10): a copy of an agent's snapshot records the
agent's name and its trust in the source (``extra["provenance"]``), so it stays
attributed (and flagged, if it was) in the target; a flagged snapshot is copied
only with ``allow_unsigned``.

Progress (phase ``copy``: files and bytes read so far, the snapshot being copied)
and warnings go to the context's events; the cancel token is checked per file and
per blob, and a cancelled copy leaves both repositories unlocked and consistent.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from keyark.cancel import CancelToken
from keyark.context import OperationContext
from keyark.crypto.agents import TRUSTED
from keyark.errors import Hint, IntegrityError, KeyarkError, SnapshotNotFoundError, UsageError
from keyark.events import Code, Events
from keyark.repo.adoption import adopt_unindexed
from keyark.repo.full_disk import read_lock
from keyark.repo.inventory import stored_inventory
from keyark.repo.objects import ContentWriter, open_blobs, saving
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot, select_snapshot
from keyark.repo.snapshot_trust import ORIGIN, PROVENANCE, provenance_of, snapshot_trust
from keyark.repo.tree import DIR, FILE, Node
from keyark.results import Summary


@dataclass
class CopySummary(Summary):
    """What ``copy`` did."""

    copied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    files: int = 0
    bytes_read: int = 0
    bytes_added: int = 0
    duration_seconds: float = 0.0


def redacted_location(url: str) -> str:
    """``url`` for a message: no password in the authority, no query (it may hold a token)."""
    if "://" not in url:
        return url  # a local path
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    user = parts.username
    netloc = f"{user}@{host}" if user else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class Copier:
    """Copies trees and file contents from ``source`` into ``target``."""

    def __init__(
        self,
        source: Repository,
        target: Repository,
        summary: CopySummary,
        ctx: OperationContext | None = None,
    ) -> None:
        self.source = source
        self.target = target
        self.summary = summary
        ctx = ctx or OperationContext()
        self.events: Events = ctx.events
        self.cancel: CancelToken = ctx.cancel
        # Content below the target's smallest chunk is one blob, longer content is
        # re-chunked in the target's key space (its boundaries are seeded per repository).
        chunker = target.config.chunker
        self.writer = ContentWriter(
            saving(target.blobs), chunker, whole_below=chunker.min_size, cancel=ctx.cancel
        )
        #: The snapshot being copied (the ``current`` item of progress events).
        self.current: str | None = None
        self._trees: dict[bytes, bytes] = {}
        self._contents: dict[tuple[bytes, ...], list[bytes]] = {}

    def progress(self, *, final: bool = False) -> None:
        """Report files and bytes read so far."""
        self.events.progress(
            "copy",
            files_done=self.summary.files,
            bytes_done=self.summary.bytes_read,
            current=self.current,
            final=final,
        )

    def copy_content(self, node: Node) -> list[bytes]:
        key = tuple(node.content)
        known = self._contents.get(key)
        if known is not None:
            return known
        stored = self.writer.write_stream(open_blobs(self.source.blobs, node.content), node.size)
        self.summary.bytes_read += stored.bytes_read
        self.summary.bytes_added += stored.bytes_added
        content = stored.blob_ids
        self._contents[key] = content
        return content

    def copy_tree(self, tree_id: bytes) -> bytes:
        known = self._trees.get(tree_id)
        if known is not None:
            return known
        nodes = self.source.blobs.load_tree(tree_id)
        for node in nodes:
            self.cancel.check()
            if node.type == DIR and node.subtree is not None:
                node.subtree = self.copy_tree(node.subtree)
            elif node.type == FILE:
                node.content = self.copy_content(node)
                self.summary.files += 1
                self.progress()
        new_id, added = self.target.blobs.save_tree(nodes)
        self.summary.bytes_added += added
        self._trees[tree_id] = new_id
        return new_id


def choose_snapshots(
    available: list[Snapshot], refs: Sequence[str], all_: bool, events: Events | None = None
) -> list[Snapshot]:
    """The source snapshots named by id/prefix/``latest``, or all of them.

    ``latest`` skips flagged snapshots (and says how many through ``events``).
    """
    if all_:
        return sorted(available, key=lambda s: (s.time, s.id))
    if not refs:
        raise UsageError("no snapshots named to copy", hint=Hint.SELECT_ALL)
    warn = (events or Events()).warner(Code.SNAPSHOT_UNTRUSTED)
    chosen: dict[str, Snapshot] = {}
    for ref in refs:
        snapshot = select_snapshot(available, ref, warn=warn)
        chosen[snapshot.id] = snapshot
    return sorted(chosen.values(), key=lambda s: (s.time, s.id))


def copy_snapshots(
    source: Repository,
    target: Repository,
    snapshots: list[Snapshot],
    existing: list[Snapshot],
    *,
    ctx: OperationContext | None = None,
    allow_unsigned: bool = False,
) -> CopySummary:
    """Copy ``snapshots`` (loaded from ``source``) into ``target`` unless already there.

    Each copy keeps its provenance (agent name and trust). A flagged snapshot is
    refused (IntegrityError, nothing copied) unless ``allow_unsigned``; then it is
    copied and stays flagged in the target. ``ctx`` gives the lock wait, the events
    (progress, warnings) and the cancel token.
    """
    ctx = ctx or OperationContext()
    started = time.monotonic()
    summary = CopySummary()
    present = {s.extra.get(ORIGIN) for s in existing} | {s.id for s in existing}
    if source.repo_id == target.repo_id:
        raise UsageError("source and target are the same repository")
    flagged = [
        (s, trust)
        for s in snapshots
        if (trust := snapshot_trust(source.keys.keyring, s)) not in TRUSTED
    ]
    if flagged and not allow_unsigned:
        names = ", ".join(f"{s.short_id} ({trust})" for s, trust in flagged[:5])
        raise IntegrityError(
            f"{len(flagged)} of the snapshots to copy are flagged: {names}; nothing was "
            "copied (copied when allowed, they stay flagged in the target)",
            hint=Hint.ALLOW_UNSIGNED,
        )
    # A shared lock on the source too: a prune there waits for (or refuses) the copy, so
    # no pack the copy is reading is deleted under it.
    with (
        target.lock("copy", retry=ctx.lock_wait),
        read_lock(source, "copy", retry=ctx.lock_wait, events=ctx.events),
    ):
        target.blobs.load_index(reload=True)  # as of the lock
        # Reuse what an interrupted copy uploaded.
        adopt_unindexed(target, events=ctx.events)
        source.blobs.load_index(reload=True)  # as of the source's lock
        copier = Copier(source, target, summary, ctx)
        for snapshot in snapshots:
            ctx.cancel.check()
            if snapshot.id in present:
                summary.skipped.append(snapshot.id)
                continue
            copier.current = snapshot.short_id
            tree = copier.copy_tree(snapshot.tree)
            target.blobs.flush()
            copy = Snapshot(
                time=snapshot.time,
                host=snapshot.host,
                username=snapshot.username,
                paths=list(snapshot.paths),
                tree=tree,
                tags=list(snapshot.tags),
                uid=snapshot.uid,
                gid=snapshot.gid,
                excludes=list(snapshot.excludes),
                summary=dict(snapshot.summary),
                program_version=snapshot.program_version,
                extra={ORIGIN: snapshot.id},
                inventory=_inventory_of(source, snapshot, ctx),
            )
            provenance = provenance_of(source.keys.keyring, snapshot)
            if provenance is not None:
                copy.extra[PROVENANCE] = provenance
                if provenance["trust"] not in TRUSTED:
                    ctx.events.warn(
                        Code.SNAPSHOT_UNTRUSTED,
                        f"snapshot {snapshot.short_id} is flagged and stays flagged in the target",
                        subject=snapshot.id,
                    )
            target.snapshots.save(copy)
            summary.copied.append(copy.id)
        copier.progress(final=True)
    summary.duration_seconds = time.monotonic() - started
    if not summary.copied and not summary.skipped:
        raise SnapshotNotFoundError("no snapshots to copy")
    return summary


def _inventory_of(source: Repository, snapshot: Snapshot, ctx: OperationContext) -> bytes | None:
    """The source snapshot's inventory (inside the stored snapshot, else its sidecar):
    the copy carries it inside itself. One that does not verify is left out, with a
    warning."""
    try:
        return stored_inventory(source.snapshots.load(snapshot.id), source.inventories)
    except KeyarkError as error:
        ctx.events.warn(
            Code.INVENTORY,
            f"the inventory of snapshot {snapshot.short_id} is not copied: {error}",
            subject=snapshot.id,
        )
        return None
