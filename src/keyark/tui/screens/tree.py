"""Browse one snapshot: directories, marks, search."""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Input, Static

from keyark.terminal_text import printable
from keyark.tui.marks import Marks
from keyark.tui.screens.browse_screen import BrowseScreen
from keyark.tui.text import cell, size_text

if TYPE_CHECKING:
    from keyark import ops

#: How a listed entry's type is shown.
_TYPES = {"dir": "dir", "file": "file", "symlink": "link"}


class TreeScreen(BrowseScreen):
    """A directory of the snapshot (or search results); Space marks, R restores the marks."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "mark", "Mark"),
        Binding("backspace", "up", "Up"),
        Binding("slash", "search", "Search"),
        Binding("r", "restore", "Restore marked"),
        Binding("escape", "back", "Snapshots"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, snapshot: ops.Snapshot, marks: Marks) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.marks = marks
        self.directory = "/"
        #: The paths of the shown rows (a listing, or search hits).
        self.rows: dict[str, ops.Entry | ops.FindMatch] = {}
        #: Whether the rows are search hits (full paths) rather than a directory.
        self._searching = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="where")
        yield Input(placeholder="search: a name pattern like *.key (Enter)", id="search")
        yield DataTable(id="entries", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(" ", "Name", "Type", "Size")
        self.show_directory("/")

    # ------------------------------------------------------------------ rows
    def show_directory(self, directory: str) -> None:
        """List ``directory`` (its direct children)."""
        self.directory = directory
        entries = self.browse.session.listing(self.snapshot.id, directory)
        self._show({e.path: e for e in entries}, f"{self.snapshot.short_id}:{directory}")

    def _show(self, rows: dict[str, ops.Entry | ops.FindMatch], where: str) -> None:
        self.rows = rows
        table = self.query_one(DataTable)
        table.clear()
        for path, row in rows.items():
            node = row.node
            is_dir = node.type == "dir"
            name = path if self._searching else posixpath.basename(path)
            table.add_row(
                cell("*" if self.marks.covered(path) else " ", "bold"),
                cell(name + ("/" if is_dir else "")),
                cell(_TYPES.get(node.type, node.type)),
                cell("" if is_dir else size_text(node.size)),
                key=path,
            )
        marked = f"{len(self.marks)} marked"
        self.query_one("#where", Static).update(cell(f"{where}  ({len(rows)} entries, {marked})"))
        table.focus()

    def _current(self) -> str | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row < 0:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    # --------------------------------------------------------------- actions
    def on_data_table_row_selected(self, message: DataTable.RowSelected) -> None:
        path = message.row_key.value
        if path is None:
            return
        row = self.rows[path]
        if row.node.type == "dir":
            self._searching = False
            self.show_directory(path)
        elif self._searching:  # a search hit: show it in its directory
            self._searching = False
            self.show_directory(posixpath.dirname(path) or "/")

    def action_mark(self) -> None:
        path = self._current()
        if path is None:
            return
        self.marks.toggle(path)
        table = self.query_one(DataTable)
        row = table.cursor_row
        self._refresh_marks()
        table.move_cursor(row=min(row + 1, table.row_count - 1))

    def _refresh_marks(self) -> None:
        table = self.query_one(DataTable)
        for path in self.rows:
            column = table.ordered_columns[0].key
            table.update_cell(path, column, cell("*" if self.marks.covered(path) else " ", "bold"))
        text = self.query_one("#where", Static)
        where = f"{self.snapshot.short_id}:{self.directory}"
        text.update(cell(f"{where}  ({len(self.rows)} entries, {len(self.marks)} marked)"))

    def action_up(self) -> None:
        if self._searching:
            self._searching = False
            self.show_directory(self.directory)
        elif self.directory != "/":
            self.show_directory(posixpath.dirname(self.directory.rstrip("/")) or "/")

    def action_search(self) -> None:
        box = self.query_one(Input)
        box.value = ""
        box.focus()
        self.query_one("#where", Static).update("search: type a name pattern, then Enter")

    def on_input_submitted(self, message: Input.Submitted) -> None:
        pattern = message.value.strip()
        if not pattern:
            self.query_one(DataTable).focus()
            return
        hits = self.browse.session.search(self.snapshot.id, pattern)
        self._searching = True
        self._show({h.path: h for h in hits}, f"search {printable(pattern)}")

    def action_restore(self) -> None:
        if not self.marks:
            self.notify("Mark files or directories with Space first.", severity="warning")
            return
        self.browse.open_restore(self.snapshot, self.marks)

    def action_back(self) -> None:
        self.app.pop_screen()
