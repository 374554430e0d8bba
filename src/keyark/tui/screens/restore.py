"""Restore the marked entries: target, overwrite mode, what would be overwritten, progress."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Header, Input, ProgressBar, Static

from keyark.errors import KeyarkError
from keyark.events import Event, Progress
from keyark.terminal_text import printable
from keyark.tui.screens.browse_screen import BrowseScreen
from keyark.tui.text import cell, size_text

if TYPE_CHECKING:
    from keyark import ops
    from keyark.tui.marks import Marks
    from keyark.tui.session import Preview

#: The overwrite modes, in the order ``o`` cycles through them.
MODES = ("if-changed", "always", "never")


class RestoreScreen(BrowseScreen):
    """Choose the target and mode; P previews, Ctrl+R restores."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+o", "mode", "Overwrite mode"),
        Binding("ctrl+p", "preview", "Preview"),
        Binding("ctrl+r", "restore", "Restore"),
        Binding("escape", "back", "Back"),
        Binding("q", "app.quit", "Quit", show=False),
    ]

    def __init__(self, snapshot: ops.Snapshot, marks: Marks, target: str) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.marks = marks
        self.mode = MODES[0]
        self.initial_target = target
        self.running = False
        self.done = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="what")
        yield Input(self.initial_target, placeholder="target directory", id="target")
        yield Static(id="mode")
        yield ProgressBar(total=None, show_eta=False, id="progress")
        yield VerticalScroll(Static(id="report"), id="report-box")
        yield Footer()

    def on_mount(self) -> None:
        marked = ", ".join(printable(p) for p in sorted(self.marks.paths))
        what = f"restore {len(self.marks)} marked from {self.snapshot.short_id}: {marked}"
        self.query_one("#what", Static).update(cell(what))
        self._show_mode()
        self.query_one("#report", Static).update(
            "Enter the target, then Ctrl+P to preview or Ctrl+R to restore."
        )
        self.query_one(Input).focus()

    def _show_mode(self) -> None:
        self.query_one("#mode", Static).update(
            cell(f"overwrite existing files: {self.mode} (Ctrl+O changes)")
        )

    @property
    def target(self) -> str:
        return self.query_one(Input).value.strip()

    def _report(self, text: str) -> None:
        """Show ``text`` (its lines escaped one by one, the line breaks kept)."""
        self.query_one("#report", Static).update(Text(printable(text, keep_newlines=True)))

    # --------------------------------------------------------------- actions
    def action_mode(self) -> None:
        self.mode = MODES[(MODES.index(self.mode) + 1) % len(MODES)]
        self._show_mode()

    def on_input_submitted(self, message: Input.Submitted) -> None:
        self.action_preview()

    def action_preview(self) -> None:
        if self.running or not self._target_given():
            return
        self._report("looking at the target ...")
        self.running = True
        self.run_worker(self._preview, thread=True, exclusive=True)

    def _preview(self) -> None:
        includes = self.marks.includes()
        try:
            preview = self.browse.session.preview(
                self.snapshot.id, includes, self.target, self.mode
            )
        except KeyarkError as error:
            self.app.call_from_thread(self._failed, error)
            return
        self.app.call_from_thread(self._previewed, preview)

    def _previewed(self, preview: Preview) -> None:
        self.running = False
        lines = [f"{preview.files} file(s), {size_text(preview.bytes)} would be written."]
        if preview.overwritten:
            lines.append(f"{len(preview.overwritten)} existing file(s) would be overwritten:")
            lines += [f"  {printable(path)}" for path in preview.overwritten]
        else:
            lines.append("Nothing existing would be overwritten.")
        lines.append("Ctrl+R restores.")
        self._report("\n".join(lines))

    def action_restore(self) -> None:
        if self.running or not self._target_given():
            return
        self.running = True
        self._report("restoring ...")
        self.browse.session.listen(lambda e: self.app.call_from_thread(self._event, e))
        self.run_worker(self._restore, thread=True, exclusive=True)

    def _restore(self) -> None:
        try:
            summary = self.browse.session.restore(
                self.snapshot.id, self.marks.includes(), self.target, self.mode
            )
        except KeyarkError as error:
            self.app.call_from_thread(self._failed, error)
            return
        finally:
            self.browse.session.listen(None)
        self.app.call_from_thread(self._restored, summary)

    def _event(self, event: Event) -> None:
        if isinstance(event, Progress) and event.phase != "verify":
            bar = self.query_one(ProgressBar)
            total = event.bytes_total or event.files_total
            done = event.bytes_done if event.bytes_total else event.files_done
            if total:
                bar.update(total=total, progress=done)

    def _restored(self, summary: ops.RestoreSummary) -> None:
        self.running = False
        self.done = True
        bar = self.query_one(ProgressBar)
        bar.update(total=1, progress=1)
        self._report(
            f"Restored {summary.files_restored} file(s), {size_text(summary.bytes_restored)}, "
            f"into {printable(summary.target)}; {summary.files_skipped} kept, "
            f"{summary.files_verified} verified. q quits, Escape goes back."
        )
        self.browse.restored = summary
        self.query_one("#report-box").focus()

    def _failed(self, error: KeyarkError) -> None:
        self.running = False
        hint = f" ({printable(error.hint)})" if error.hint else ""
        self._report(f"failed: {printable(error)}{hint}")

    def _target_given(self) -> bool:
        if not self.target:
            self.notify("Enter a target directory first.", severity="warning")
            return False
        return True

    def action_back(self) -> None:
        if not self.running:
            self.app.pop_screen()
