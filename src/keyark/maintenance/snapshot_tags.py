"""``tag``: change the tags of snapshots (restic semantics).

``set`` replaces the tags, ``add`` adds the ones missing, ``remove`` takes some away
(each value may be ``a,b``). A snapshot whose tags change is replaced by a new
snapshot object with the new tags that records its original; the original is
deleted once every replacement is saved (see :mod:`snapshot_edit`, which keeps
the original's provenance). A snapshot whose tags stay the same is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from keyark.context import OperationContext
from keyark.errors import UsageError
from keyark.maintenance.snapshot_edit import (
    Change,
    Changes,
    Selection,
    replacement,
    save_replacements,
    stage_replacements,
)
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot


def split_tags(values: Iterable[str]) -> list[str]:
    """``["a,b", "c"]`` -> ``["a", "b", "c"]`` (empty names dropped, order kept, no repeats)."""
    found: list[str] = []
    for value in values:
        for name in value.split(","):
            name = name.strip()
            if name and name not in found:
                found.append(name)
    return found


@dataclass(frozen=True)
class TagOptions(Selection):
    """Which snapshots (ids, filters or all: the :class:`Selection`) and how their tags
    change: ``set`` (None: keep; an empty list clears them), then ``add``, then ``remove``."""

    set_tags: Sequence[str] | None = None
    add: Sequence[str] = ()
    remove: Sequence[str] = ()
    dry_run: bool = False

    def validate(self) -> None:
        """Refuse empty or contradictory requests before the repository is opened."""
        if self.set_tags is not None and (self.add or self.remove):
            raise UsageError("set the tags, or add and remove some, not both (nothing was changed)")
        if self.set_tags is None and not (split_tags(self.add) or split_tags(self.remove)):
            raise UsageError("no tags to set, add or remove: nothing to do")
        self.refuse_empty("changed")

    def apply(self, tags: Sequence[str]) -> list[str]:
        """The tags a snapshot tagged ``tags`` gets."""
        result = list(tags) if self.set_tags is None else split_tags(self.set_tags)
        result += [name for name in split_tags(self.add) if name not in result]
        gone = set(split_tags(self.remove))
        return [name for name in result if name not in gone]


@dataclass
class RetaggedSnapshot(Change):
    """One selected snapshot: its tags before and after."""

    old_tags: list[str] = field(default_factory=list)
    new_tags: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the tags differ (the snapshot is, or would be, replaced)."""
        return self.old_tags != self.new_tags

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "old_tags": self.old_tags, "new_tags": self.new_tags}


@dataclass
class TagResult(Changes[RetaggedSnapshot]):
    """What ``tag`` changed (or, in a dry run, would change)."""

    def to_dict(self) -> dict[str, Any]:
        return self.summary(changed_snapshots=len(self.changed))


def tag_snapshots(repo: Repository, options: TagOptions, ctx: OperationContext) -> TagResult:
    """Replace each selected snapshot whose tags change (see the module)."""
    options.validate()
    result = TagResult(dry_run=options.dry_run)
    with repo.lock("tag", exclusive=not options.dry_run, retry=ctx.lock_wait) as lock:
        keyring = repo.keys.keyring

        def retag(snapshot: Snapshot) -> tuple[RetaggedSnapshot, Snapshot | None]:
            item = RetaggedSnapshot(snapshot.id, old_tags=list(snapshot.tags))
            item.new_tags = options.apply(snapshot.tags)
            if not item.changed:
                return item, None
            return item, replacement(keyring, snapshot, tags=item.new_tags)

        pending = stage_replacements(repo, ctx, options, result, retag)
        if not options.dry_run:
            save_replacements(repo, pending, forget=True, lock=lock, ctx=ctx)
    return result


__all__ = ["RetaggedSnapshot", "TagOptions", "TagResult", "split_tags", "tag_snapshots"]
