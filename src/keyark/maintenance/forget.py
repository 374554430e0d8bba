"""``forget``: remove snapshots by id or by retention policy, optionally then prune.

Snapshots are deleted under an exclusive lock (principle 4). The decisions
come from the pure :mod:`keyark.maintenance.retention`; ``--dry-run`` computes
exactly the same decisions and deletes nothing. With ``prune`` the prune runs
under the same lock, so no backup can slip in between.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from keyark.errors import KeyarkError, NotFoundError, UsageError
from keyark.maintenance.prune import PruneOptions, PruneSummary, finish_prune, plan_prune
from keyark.maintenance.prune_plan import read_snapshots
from keyark.maintenance.retention import (
    DEFAULT_GROUP_BY,
    Decision,
    GroupDecisions,
    RetentionPolicy,
    plan_retention,
)
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot, SnapshotFilter, filter_snapshots, select_snapshot

Warn = Callable[[str], None]


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
    retry_lock: float = 0.0
    #: Time zone of the hourly/daily/... periods (None: this machine's).
    zone: tzinfo | None = None

    def validate(self) -> None:
        """Refuse empty or contradictory requests before the repository is touched."""
        if self.ids:
            if not self.policy.is_empty():
                raise UsageError(
                    "give snapshot ids or a --keep-* policy, not both (nothing was removed)"
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

    def to_dict(self) -> list[dict[str, Any]]:
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


def load_snapshots(repo: Repository, warn: Warn | None) -> list[Snapshot]:
    """Every readable snapshot; unreadable ones are reported and left alone."""

    def report(snapshot_id: str, error: KeyarkError) -> None:
        if warn is not None:
            warn(f"snapshot {snapshot_id[:8]} cannot be read and is left alone: {error}")

    return read_snapshots(repo, report)


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


def forget(repo: Repository, options: ForgetOptions, warn: Warn | None = None) -> ForgetResult:
    """Apply ``options``; delete the snapshots it removes unless ``dry_run``."""
    options.validate()
    result = ForgetResult(dry_run=options.dry_run)
    exclusive = not options.dry_run
    with repo.lock("forget", exclusive=exclusive, retry=options.retry_lock) as lock:
        result.groups = decide(load_snapshots(repo, warn), options)
        doomed = [s.id for g in result.groups for s in g.removed]
        prune_options = options.prune_options or PruneOptions()
        prune_options.dry_run = options.dry_run
        # Planned before any snapshot goes: a repository prune refuses is left untouched.
        plan = plan_prune(repo, prune_options, set(doomed)) if options.prune else None
        if not options.dry_run:
            for snapshot_id in doomed:
                try:
                    repo.delete_snapshot(snapshot_id)
                except NotFoundError:
                    continue
                result.removed.append(snapshot_id)
        if plan is not None:
            result.prune = finish_prune(repo, plan, prune_options, warn, lock.ensure_valid)
    return result
