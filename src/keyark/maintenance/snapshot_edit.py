"""Replacing snapshots with changed copies: what ``rewrite`` and ``tag`` share.

A snapshot object cannot change (its id is a keyed hash of its content), so both
verbs write a new snapshot and then delete the original (restic semantics):

- **selection** (:func:`choose_snapshots`): snapshot ids, unique prefixes or
  ``latest`` (which honours the host/tag/path filter and skips flagged snapshots),
  or, without ids, every snapshot the filter matches, or every snapshot when asked
  for explicitly. Nothing at all selects nothing: it is refused, not "everything";
- **the replacement** (:func:`replacement`) keeps time, host, user, paths, tags,
  parent, summary and the extension fields, and records the original's id in
  ``extra["original"]`` (the first original, when a replacement is replaced again);
- **trust** (design D9): a replacement is written with the full key, so what the
  original's provenance was is recorded in ``extra["provenance"]`` as ``copy``
  does: an agent's snapshot stays an agent's snapshot, and a flagged one stays
  flagged;
- **staging** (:func:`stage_replacements`): each chosen snapshot's change and its
  unsaved replacement (a dry run stops there, with the would-be ids);
- **saving, then deleting** (:func:`save_replacements`): every replacement is
  durable before any original goes, so a run killed at any point leaves each
  snapshot present at least once, and running it again finishes the job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from keyark.context import OperationContext
from keyark.crypto.agents import TRUSTED
from keyark.crypto.keyring import Keyring
from keyark.errors import Hint, KeyarkError, NotFoundError, UsageError
from keyark.events import Code
from keyark.maintenance.usage import read_snapshots
from keyark.repo.locks import RepositoryLock
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot, SnapshotFilter, filter_snapshots, select_snapshot
from keyark.repo.snapshot_trust import (
    AGENT,
    ORIGINAL,
    PROVENANCE,
    SIGNATURE,
    TRUST,
    provenance_of,
    snapshot_trust,
)


@dataclass(frozen=True)
class Selection:
    """Which snapshots to change: ``snapshots`` (id, unique prefix or ``latest``), else
    every snapshot ``selection`` matches, else (only with ``all_snapshots``) every
    snapshot. The options of ``rewrite`` and ``tag`` begin with these fields."""

    #: Snapshot ids, unique prefixes or ``latest``.
    snapshots: Sequence[str] = ()
    selection: SnapshotFilter = field(default_factory=SnapshotFilter)
    #: Change every snapshot (never implied by giving no ids or filters).
    all_snapshots: bool = False

    @property
    def filtered(self) -> bool:
        """Whether a host, tag or path filter is given."""
        return bool(self.selection.hosts or self.selection.tags or self.selection.paths)

    def refuse_empty(self, what: str) -> None:
        """Refuse a request that selects no snapshots (it never means "all"), or names
        some and all of them."""
        if self.snapshots and self.all_snapshots:
            raise UsageError(f"name snapshots or select all of them, not both (nothing was {what})")
        if not (self.snapshots or self.filtered or self.all_snapshots):
            raise UsageError(
                f"no snapshots selected (nothing was {what})", hint=Hint.SELECT_SNAPSHOTS
            )


@dataclass
class Change:
    """One selected snapshot and what became of it."""

    original: str
    #: The new snapshot's id (its would-be id in a dry run); None when nothing changed.
    replacement: str | None = None
    #: Whether the original was deleted.
    forgotten: bool = False

    @property
    def changed(self) -> bool:
        """Whether the snapshot is (or, in a dry run, would be) replaced."""
        return self.replacement is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "original": self.original,
            "replacement": self.replacement,
            "forgotten": self.forgotten,
        }


C = TypeVar("C", bound=Change)


@dataclass
class Changes(Generic[C]):
    """Every selected snapshot and what became of it (the result of ``rewrite``, ``tag``)."""

    dry_run: bool = False
    snapshots: list[C] = field(default_factory=list)

    @property
    def changed(self) -> list[C]:
        """The snapshots replaced (or, in a dry run, to be replaced)."""
        return [s for s in self.snapshots if s.changed]

    def summary(self, **counts: int) -> dict[str, Any]:
        """The JSON summary with ``counts`` (each verb names its own, as restic does)."""
        return {
            "message_type": "summary",
            "dry_run": self.dry_run,
            **counts,
            "snapshots": [s.to_dict() for s in self.snapshots],
        }


def load_for_edit(repo: Repository, ctx: OperationContext) -> list[Snapshot]:
    """Every readable snapshot with ``extra["trust"]`` set (unreadable ones are warned
    about and left alone)."""

    def unreadable(snapshot_id: str, error: KeyarkError) -> None:
        message = f"snapshot {snapshot_id[:8]} cannot be read and is left alone: {error}"
        ctx.events.warn(Code.SNAPSHOT_DAMAGED, message, subject=snapshot_id)

    found = read_snapshots(repo, unreadable, ctx.cancel)
    for snapshot in found:
        snapshot.extra[TRUST] = snapshot_trust(repo.keys.keyring, snapshot)
    return found


def choose_snapshots(
    available: list[Snapshot], chosen: Selection, ctx: OperationContext
) -> list[Snapshot]:
    """The snapshots ``chosen`` names, oldest first (see :class:`Selection`).

    ``latest`` skips flagged snapshots; an explicit id or a filter may select a flagged
    one, which is warned about (its replacement stays flagged).
    """
    chosen.refuse_empty("changed")
    if not chosen.snapshots:
        found = filter_snapshots(available, chosen.selection)
    else:
        warn = ctx.events.warner(Code.SNAPSHOT_UNTRUSTED)
        picked: dict[str, Snapshot] = {}
        for ref in chosen.snapshots:
            snapshot = select_snapshot(available, ref, chosen.selection, warn=warn)
            picked[snapshot.id] = snapshot
        found = sorted(picked.values(), key=lambda s: (s.time, s.id))
    for snapshot in found:
        trust = snapshot.extra.get(TRUST)
        if trust not in TRUSTED:
            ctx.events.warn(
                Code.SNAPSHOT_UNTRUSTED,
                f"snapshot {snapshot.short_id} is flagged ({trust}); its replacement stays flagged",
                subject=snapshot.id,
            )
    return found


def replacement(
    keyring: Keyring,
    snapshot: Snapshot,
    *,
    tree: bytes | None = None,
    tags: Sequence[str] | None = None,
) -> Snapshot:
    """A new snapshot like ``snapshot`` with ``tree`` and ``tags`` changed (unsaved).

    It records the original (``extra["original"]``) and the original's provenance
    (agent and trust, ``extra["provenance"]``), so a full-key rewrite of an agent's
    or a flagged snapshot never turns it into a trusted full-key snapshot.
    """
    written_by_full_key = SIGNATURE not in snapshot.extra
    extra = {
        key: value
        for key, value in snapshot.extra.items()
        if key not in (AGENT, SIGNATURE, TRUST, PROVENANCE, ORIGINAL)
    }
    provenance = provenance_of(keyring, snapshot)
    if provenance is not None:
        extra[PROVENANCE] = provenance
    # Only a full-key writer's record of an earlier original is believed.
    earlier = snapshot.extra.get(ORIGINAL) if written_by_full_key else None
    extra[ORIGINAL] = earlier if isinstance(earlier, str) and earlier else snapshot.id
    return replace(
        snapshot,
        tree=snapshot.tree if tree is None else tree,
        tags=list(snapshot.tags if tags is None else tags),
        paths=list(snapshot.paths),
        excludes=list(snapshot.excludes),
        summary=dict(snapshot.summary),
        extra=extra,
        id="",
        key_id="",
    )


def planned_id(repo: Repository, fresh: Snapshot) -> str:
    """The id ``fresh`` gets when it is saved (a dry run's replacement id)."""
    return repo.snapshots.snapshot_id_of(repo.snapshots.document(fresh))


def stage_replacements(
    repo: Repository,
    ctx: OperationContext,
    chosen: Selection,
    changes: Changes[C],
    revise: Callable[[Snapshot], tuple[C, Snapshot | None]],
    *,
    progress: str | None = None,
) -> list[tuple[C, Snapshot]]:
    """The replacements to save, one for each chosen snapshot that changes.

    ``revise`` gives a snapshot's change (appended to ``changes``) and its unsaved
    replacement (None: the snapshot is left alone); in a dry run each change gets its
    replacement's would-be id. ``progress`` names the phase reported after each
    snapshot (None: no progress).
    """
    found = choose_snapshots(load_for_edit(repo, ctx), chosen, ctx)
    pending: list[tuple[C, Snapshot]] = []
    for number, snapshot in enumerate(found, 1):
        change, fresh = revise(snapshot)
        changes.snapshots.append(change)
        if fresh is not None:
            pending.append((change, fresh))
            if changes.dry_run:
                change.replacement = planned_id(repo, fresh)
        if progress is not None:
            ctx.events.progress(
                progress, files_done=number, files_total=len(found), current=snapshot.id
            )
    return pending


def save_replacements(
    repo: Repository,
    pending: Sequence[tuple[Change, Snapshot]],
    *,
    forget: bool,
    lock: RepositoryLock,
    ctx: OperationContext,
) -> None:
    """Save each replacement (sets :attr:`Change.replacement`), then, with ``forget``,
    delete the originals.

    New trees must be durable already (``repo.blobs.flush()``). A replacement already
    stored (an earlier run was killed before it deleted the original) is not stored
    again. Originals go only after every replacement is saved and the lock is
    confirmed valid; one deleted meanwhile is passed over.
    """
    existing = set(repo.snapshots.ids())
    for number, (change, fresh) in enumerate(pending, 1):
        snapshot_id = planned_id(repo, fresh)
        if snapshot_id not in existing:
            lock.ensure_valid("stopped before saving the next snapshot")
            snapshot_id = repo.snapshots.save(fresh)
            existing.add(snapshot_id)
        change.replacement = snapshot_id
        ctx.events.progress(
            "save", files_done=number, files_total=len(pending), current=change.original
        )
    if not forget or not pending:
        return
    lock.ensure_valid()
    for number, (change, _fresh) in enumerate(pending, 1):
        try:
            repo.snapshots.delete(change.original)
        except NotFoundError:
            pass  # removed meanwhile
        change.forgotten = True
        ctx.events.progress(
            "forget",
            files_done=number,
            files_total=len(pending),
            current=change.original,
            final=number == len(pending),
        )


__all__ = [
    "ORIGINAL",
    "Change",
    "Changes",
    "Selection",
    "choose_snapshots",
    "load_for_edit",
    "planned_id",
    "replacement",
    "save_replacements",
    "stage_replacements",
]
