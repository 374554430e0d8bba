"""The operations the terminal face runs, and the events they report back to it.

:class:`BrowseSession` holds one operation context (credentials resolved once, before the
screen takes over the terminal) whose events go to whichever listener the running screen
set; every call is a catalogue operation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from keyark import ops
from keyark.events import Event, Events, ItemDone

Listener = Callable[[Event], None]


@dataclass(frozen=True)
class Preview:
    """What restoring the marked entries into a target would do."""

    files: int
    overwritten: list[str]
    bytes: int


class BrowseSession:
    """The snapshot lists, listings, searches, previews and restores of one repository."""

    def __init__(self, ctx: ops.OperationContext, selection: ops.SnapshotFilter) -> None:
        self.selection = selection
        self._listener: Listener | None = None
        self.ctx = replace(ctx, events=Events("", self._forward))

    def _forward(self, event: Event) -> None:
        listener = self._listener
        if listener is not None:
            listener(event)

    def listen(self, listener: Listener | None) -> None:
        """Send the events of the following operations to ``listener`` (None: nobody)."""
        self._listener = listener

    def snapshots(self) -> list[ops.Snapshot]:
        """The snapshots the selection matches, oldest first."""
        found = ops.snapshots(self.ctx, ops.SnapshotsOptions(selection=self.selection))
        return list(found.snapshots)

    def listing(self, snapshot: str, path: str) -> list[ops.Entry]:
        """The direct children of directory ``path`` of ``snapshot``, directories first."""
        listed = ops.ls(self.ctx, ops.LsOptions(snapshot, path))
        children = [e for e in listed.entries if e.path != path]
        return sorted(children, key=lambda e: (not e.is_dir, e.path))

    def search(self, snapshot: str, pattern: str) -> list[ops.FindMatch]:
        """The entries of ``snapshot`` whose name (or, with ``/``, path) matches ``pattern``."""
        found = ops.find(self.ctx, ops.FindOptions(pattern, snapshots=[snapshot]))
        return list(found.matches)

    def restore_options(
        self, snapshot: str, includes: list[str], target: str, overwrite: str, *, dry_run: bool
    ) -> ops.RestoreOptions:
        """The restore of the marked entries (``includes``) of ``snapshot`` into ``target``."""
        return ops.RestoreOptions(
            target,
            includes=includes,
            overwrite=overwrite,
            dry_run=dry_run,
            report_items=dry_run,
            snapshot=snapshot,
            verify=not dry_run,
        )

    def preview(self, snapshot: str, includes: list[str], target: str, overwrite: str) -> Preview:
        """A dry run: how many files would be written, and which existing ones overwritten."""
        items: list[ItemDone] = []
        previous = self._listener
        self._listener = lambda e: items.append(e) if isinstance(e, ItemDone) else None
        try:
            options = self.restore_options(snapshot, includes, target, overwrite, dry_run=True)
            ops.restore(self.ctx, options)
        finally:
            self._listener = previous
        overwritten = [i.item for i in items if i.action == "updated"]
        return Preview(len(items), overwritten, sum(i.data_size for i in items))

    def restore(
        self, snapshot: str, includes: list[str], target: str, overwrite: str
    ) -> ops.RestoreSummary:
        """Restore the marked entries (verified after writing)."""
        options = self.restore_options(snapshot, includes, target, overwrite, dry_run=False)
        return ops.restore(self.ctx, options)


__all__ = ["BrowseSession", "Preview"]
