"""Pick a snapshot: time, host, tags, size and paths; type to filter by host, tag or path."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Input, Static

from keyark.tui.screens.browse_screen import BrowseScreen
from keyark.tui.text import cell, size_text, time_text

if TYPE_CHECKING:
    from keyark import ops


class SnapshotsScreen(BrowseScreen):
    """The snapshot list; Enter opens one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, snapshots: list[ops.Snapshot]) -> None:
        super().__init__()
        self.snapshots = sorted(snapshots, key=lambda s: s.time, reverse=True)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"{len(self.snapshots)} snapshot(s); Enter opens one", id="status")
        yield Input(placeholder="filter: host, tag or path (Enter)", id="filter")
        yield DataTable(id="snapshots", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("ID", "Time", "Host", "Tags", "Size", "Paths")
        self._fill("")
        table.focus()

    def _fill(self, text: str) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for snapshot in self.snapshots:
            fields = [snapshot.host, *snapshot.tags, *snapshot.paths]
            if text and not any(text in field for field in fields):
                continue
            size = (snapshot.summary or {}).get("bytes_processed")
            table.add_row(
                cell(snapshot.short_id),
                cell(time_text(snapshot.time)),
                cell(snapshot.host),
                cell(",".join(snapshot.tags)),
                cell(size_text(size) if isinstance(size, int) else ""),
                cell(" ".join(snapshot.paths)),
                key=snapshot.id,
            )

    def action_filter(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, message: Input.Submitted) -> None:
        self._fill(message.value.strip())
        self.query_one(DataTable).focus()

    def on_data_table_row_selected(self, message: DataTable.RowSelected) -> None:
        chosen = next(s for s in self.snapshots if s.id == message.row_key.value)
        self.browse.open_snapshot(chosen)
