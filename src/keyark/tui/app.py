"""The application: snapshots -> tree -> restore, one session over the catalogue."""

from __future__ import annotations

from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from keyark import ops
from keyark.tui.marks import Marks
from keyark.tui.screens.restore import RestoreScreen
from keyark.tui.screens.snapshots import SnapshotsScreen
from keyark.tui.screens.tree import TreeScreen
from keyark.tui.session import BrowseSession

CSS = """
Screen { layout: vertical; }
#status, #where, #what, #mode { height: 1; padding: 0 1; }
#filter, #search, #target { height: 3; }
DataTable { height: 1fr; }
#progress { height: 1; padding: 0 1; }
#report-box { height: 1fr; padding: 0 1; }
"""


class BrowseApp(App[None]):
    """``keyark browse``: pick a snapshot, browse, mark, restore."""

    TITLE = "keyark browse"
    ENABLE_COMMAND_PALETTE = False
    CSS = CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+c", "quit", "Quit", show=False)]

    def __init__(self, session: BrowseSession, *, target: str = "") -> None:
        super().__init__()
        self.session = session
        self.default_target = target
        #: The summary of the restore this session ran, if any.
        self.restored: ops.RestoreSummary | None = None
        self._marks: dict[str, Marks] = {}

    def on_mount(self) -> None:
        self.push_screen(SnapshotsScreen(self.session.snapshots()))

    def open_snapshot(self, snapshot: ops.Snapshot) -> None:
        """Browse ``snapshot`` (its marks are kept while the application runs)."""
        marks = self._marks.setdefault(snapshot.id, Marks())
        self.push_screen(TreeScreen(snapshot, marks))

    def open_restore(self, snapshot: ops.Snapshot, marks: Marks) -> None:
        """The restore screen for the marked entries of ``snapshot``."""
        self.push_screen(RestoreScreen(snapshot, marks, self.default_target))


__all__ = ["BrowseApp"]
