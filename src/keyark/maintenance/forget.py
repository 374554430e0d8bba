"""``forget``: remove snapshots by id or by retention policy, optionally then prune.

Snapshots are deleted under an exclusive lock (principle 4). The decisions
come from the pure :mod:`keyark.maintenance.retention`; a dry run computes
exactly the same decisions and deletes nothing. With ``prune`` the prune runs
under the same lock, so no backup can slip in between. Progress is reported per
snapshot removed (``forget``); each is a cancel checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from typing import Any

from keyark.context import OperationContext
from keyark.errors import KeyarkError, NotFoundError, UsageError
from keyark.events import Code
from keyark.maintenance.prune import PruneOptions, PruneSummary, finish_prune, plan_prune
from keyark.maintenance.retention import (
    DEFAULT_GROUP_BY,
    Decision,
    GroupDecisions,
    RetentionPolicy,
    plan_retention,
)
from keyark.maintenance.usage import read_snapshots
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot, SnapshotFilter, filter_snapshots, select_snapshot


@dataclass
class ForgetOptions:
    """What to forget: explicit ``ids``, or a ``policy`` over the filtered snapshots."""

    policy: RetentionPolicy = field(default_factory=RetentionPolicy)
    ids: Sequence[str] = ()
    selection: SnapshotFilter = field(default_factory=SnapshotFilter)
    group_by: Sequence[str] = DEFAULT_GROUP_BY
    dry_run: bool = False
    prune: bool = False
    prune_options: PruneOptions | None = None
    #: Time zone of the hourly/daily/... periods (None: this machine's).
    zone: tzinfo | None = None

    def validate(self) -> None:
        """Refuse empty or contradictory requests before the repository is touched."""
        if self.ids:
            if not self.policy.is_empty():
                raise UsageError(
                    "give snapshot ids or a retention policy, not both (nothing was removed)"
                )
            return
        self.policy.validate()


@dataclass
class ForgetResult:
    """The decisions, what was removed, and the prune that followed (if any)."""

    groups: list[GroupDecisions] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    dry_run: bool = False
    prune: PruneSummary | None = None

    def to_dict(self) -> dict[str, Any]:
        """The groups (:meth:`group_dicts`), the snapshots removed and the prune's summary."""
        return {
            "message_type": "summary",
            "dry_run": self.dry_run,
            "groups": self.group_dicts(),
            "removed": list(self.removed),
            "prune": None if self.prune is None else self.prune.to_dict(),
        }

    def group_dicts(self) -> list[dict[str, Any]]:
        """restic's ``forget --json`` shape: one object per group."""
        return [
            {
                **{name: group.key.get(name) for name in ("host", "paths", "tags")},
                "keep": [d.snapshot.describe() for d in group.decisions if d.keep],
                "remove": [d.snapshot.describe() for d in group.decisions if not d.keep] or None,
                "reasons": [
                    {"snapshot": d.snapshot.describe(), "matches": d.reasons}
                    for d in group.decisions
                    if d.keep
                ],
            }
            for group in self.groups
        ]


def decide(snapshots: list[Snapshot], options: ForgetOptions) -> list[GroupDecisions]:
    """The decisions for ``options`` over ``snapshots`` (explicit ids or the policy)."""
    if options.ids:
        chosen: dict[str, Snapshot] = {}
        for ref in options.ids:
            snapshot = select_snapshot(snapshots, ref, options.selection)
            chosen[snapshot.id] = snapshot
        ordered = sorted(chosen.values(), key=lambda s: (s.time, s.id), reverse=True)
        decision = [Decision(s, False, []) for s in ordered]
        return [GroupDecisions({}, decision)] if decision else []
    selected = filter_snapshots(snapshots, options.selection)
    return plan_retention(selected, options.policy, options.group_by, options.zone)


def forget(
    repo: Repository, options: ForgetOptions, ctx: OperationContext | None = None
) -> ForgetResult:
    """Apply ``options``; delete the snapshots it removes unless ``dry_run``.

    ``ctx`` gives the events, the cancel token and the lock wait (default: the
    repository's bound events and cancel token, no wait). Unreadable snapshots are
    reported and left alone.
    """
    options.validate()
    ctx = ctx or OperationContext(events=repo.events, cancel=repo.cancel)
    result = ForgetResult(dry_run=options.dry_run)
    exclusive = not options.dry_run

    def unreadable(snapshot_id: str, error: KeyarkError) -> None:
        message = f"snapshot {snapshot_id[:8]} cannot be read and is left alone: {error}"
        ctx.events.warn(Code.SNAPSHOT_DAMAGED, message, subject=snapshot_id)

    with repo.lock("forget", exclusive=exclusive, retry=ctx.lock_wait) as lock:
        result.groups = decide(read_snapshots(repo, unreadable, ctx.cancel), options)
        doomed = [s.id for g in result.groups for s in g.removed]
        prune_options = replace(options.prune_options or PruneOptions(), dry_run=options.dry_run)
        # Planned before any snapshot goes: a repository prune refuses is left untouched.
        plan = plan_prune(repo, prune_options, set(doomed), ctx.cancel) if options.prune else None
        if not options.dry_run:
            for number, snapshot_id in enumerate(doomed, 1):
                ctx.cancel.check()
                try:
                    repo.snapshots.delete(snapshot_id)
                    result.removed.append(snapshot_id)
                except NotFoundError:
                    pass  # removed meanwhile (by another client's forget)
                ctx.events.progress(
                    "forget",
                    files_done=number,
                    files_total=len(doomed),
                    current=snapshot_id,
                    final=number == len(doomed),
                )
        if plan is not None:
            result.prune = finish_prune(repo, plan, prune_options, ctx, lock.ensure_valid)
    return result


__all__ = ["ForgetOptions", "ForgetResult", "decide", "forget"]
