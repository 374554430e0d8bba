"""Output: rich tables and progress on a terminal, plain text in pipes, JSON on request."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from keyark.cli.settings import Settings
from keyark.events import Event, Failed, OperationWarning
from keyark.events import Progress as ProgressEvent
from keyark.ops import TRUSTED, Snapshot
from keyark.terminal_text import printable as printable  # noqa: PLC0414 (the verbs import it from here)

if TYPE_CHECKING:
    from rich.console import Console

    from keyark.cli.live_bar import ItemProgress
    from keyark.ops import Result

#: A result of the catalogue (:class:`keyark.ops.Result`: it has ``to_dict()``).
ResultT = TypeVar("ResultT", bound="Result")


class Output:
    """Everything a verb prints goes through here (control characters escaped)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.json = settings.json
        self.tty = sys.stdout.isatty()
        self._bar: Callable[[ProgressEvent], None] | None = None
        self._stderr_lock = threading.Lock()

    @cached_property
    def console(self) -> Console:
        """stdout as rich renders to it (created on first use: pipes never need rich)."""
        from rich.console import Console

        return Console(highlight=False, soft_wrap=not self.tty)

    @cached_property
    def err(self) -> Console:
        """stderr as rich renders to it (created on first use)."""
        from rich.console import Console

        return Console(stderr=True, highlight=False)

    def print(self, text: str = "") -> None:
        """A note or message line (silenced by ``--quiet`` and ``--json``)."""
        if not self.settings.quiet:
            self.result(text)

    def result(self, text: str = "") -> None:
        """A line of the verb's result (a listing, a path): ``--quiet`` keeps it, since
        quiet silences progress and notes only; ``--json`` prints the document instead."""
        if not self.json:
            text = printable(text, keep_newlines=True)
            if self.tty:
                self.console.print(text, markup=False, soft_wrap=True)
            else:
                sys.stdout.write(text + "\n")

    def warn(self, text: str) -> None:
        text = printable(text)
        if self.json:
            self._json_line({"message_type": "warning", "message": text})
        elif sys.stderr.isatty():
            self.err.print(f"warning: {text}", markup=False, highlight=False)
        else:
            sys.stderr.write(f"warning: {text}\n")

    def emit_json(self, value: Any) -> None:
        sys.stdout.write(json.dumps(value, indent=None, default=str) + "\n")
        sys.stdout.flush()

    def show(self, result: ResultT, text: Callable[[Output, ResultT], None]) -> None:
        """The verb's result: its document (``to_dict()``) with ``--json``, else what
        ``text(self, result)`` prints."""
        if self.json:
            self.emit_json(result.to_dict())
        else:
            text(self, result)

    def outcome(self, result: Result, message: str) -> None:
        """The result of a verb that says one line: its document (``to_dict()``) with
        ``--json``, else ``message``."""
        self.show(result, lambda out, _result: out.print(message))

    def listing(
        self,
        documents: Sequence[Any],
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        empty: str = "",
    ) -> None:
        """A listing: its documents as one JSON list with ``--json``, else a table of
        ``rows`` (followed by the note ``empty``, when given, if there are none)."""
        if self.json:
            self.emit_json(list(documents))
            return
        self.table(columns, rows)
        if empty and not rows:
            self.print(empty)

    def listing_of(
        self,
        items: Sequence[ResultT],
        columns: Sequence[str],
        row: Callable[[ResultT], Sequence[Any]],
        empty: str = "",
    ) -> None:
        """A :meth:`listing` of ``items``: their documents (``to_dict()``) with
        ``--json``, else a table of ``row(item)`` for each."""
        self.listing([item.to_dict() for item in items], columns, [row(i) for i in items], empty)

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> None:
        """A result table (``--quiet`` keeps it): boxed on a terminal wide enough for
        every cell, else plain aligned lines; never truncated (ids, paths and times are
        the data a table exists to show)."""
        if self.json:
            return
        header = [printable(c) for c in columns]
        body = [[printable(cell, keep_newlines=True) for cell in row] for row in rows]
        if self.tty and _boxed_width(header, body) <= self.console.width:
            from rich.table import Table

            table = Table(title=title or None)
            for column in header:
                table.add_column(column, overflow="fold")
            for row in body:
                table.add_row(*row)
            self.console.print(table)
            return
        if title and self.tty:
            sys.stdout.write(printable(title) + "\n")
        cells = [header] + [[cell.replace("\n", ",") for cell in row] for row in body]
        widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
        for row in cells:
            line = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row))
            sys.stdout.write(line.rstrip() + "\n")

    # ----------------------------------------------------------------- events
    def event(self, event: Event) -> None:
        """Render one event of the running operation (the CLI's event sink).

        With ``--json`` every event but ``failed`` (the error line says it) is a JSON
        line on stderr; otherwise warnings are ``warning:`` lines, progress feeds the
        live bar of :meth:`progress`, and retries and lock waits are logged.
        """
        if self.json:
            if not isinstance(event, Failed):
                data = event.to_dict()
                if isinstance(event, OperationWarning):  # the pre-event warning line, kept
                    data = {"message_type": "warning", "message": printable(event.message), **data}
                self._json_line(data)
            return
        if isinstance(event, OperationWarning):
            self.warn(event.message)
        elif isinstance(event, ProgressEvent):
            bar = self._bar
            if bar is not None:
                bar(event)

    def _json_line(self, data: dict[str, Any]) -> None:
        with self._stderr_lock:
            sys.stderr.write(json.dumps(data, default=str) + "\n")
            sys.stderr.flush()

    @contextmanager
    def progress(self, label: str, unit: str = "bytes") -> Iterator[None]:
        """A live progress bar on stderr, fed by the operation's progress events.

        Terminal only (nothing with ``--json``, ``--quiet`` or a pipe). ``unit`` is
        ``"bytes"`` (sizes and speed) or a noun counted as ``done/total`` files.
        """
        if not self.live_progress:
            yield
            return
        bar = progress_bar(self.err, label, unit)
        task = bar.add_task(label, total=None, files="", current="")

        def update(event: ProgressEvent) -> None:
            current = printable(event.current) if event.current else ""
            if unit == "bytes":
                bar.update(
                    task,
                    completed=event.bytes_done,
                    total=event.bytes_total,
                    files=files_done(event),
                    current=current,
                )
            else:
                bar.update(
                    task, completed=event.files_done, total=event.files_total, current=current
                )

        with bar:
            self._bar = update
            try:
                yield
            finally:
                self._bar = None

    @property
    def live_progress(self) -> bool:
        """Whether progress bars are drawn (an operation then counts totals up front)."""
        return not (self.json or self.settings.quiet or not sys.stderr.isatty())


def progress_bar(console: Console, label: str, unit: str = "bytes") -> ItemProgress:
    """The live bar of :meth:`Output.progress` (:func:`keyark.cli.live_bar.progress_bar`,
    imported on first use: rich's progress machinery is not on a listing verb's path)."""
    from keyark.cli.live_bar import progress_bar as build

    return build(console, label, unit)


def clock(seconds: float) -> str:
    """``h:mm:ss``."""
    whole = max(0, int(seconds))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def files_done(event: ProgressEvent) -> str:
    """``3/10 files`` (``3 files`` while the total is unknown)."""
    if event.files_total is None:
        return f"{event.files_done} {'file' if event.files_done == 1 else 'files'}"
    return f"{event.files_done}/{event.files_total} {'file' if event.files_total == 1 else 'files'}"


def local_time(when: datetime) -> str:
    """A time in the local zone, with the zone: ``2024-05-01 14:03:09 CEST``."""
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def optional_time(when: datetime | None) -> str:
    """:func:`local_time`, or empty for no time."""
    return "" if when is None else local_time(when)


def stored_time(text: str) -> str:
    """A stored ISO 8601 time (``2024-05-01T12:03:09+00:00``) as :func:`local_time` shows
    it; anything else (empty, a time without a zone, not a time) unchanged."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return text
    return local_time(when) if when.tzinfo is not None else text


def _boxed_width(header: Sequence[str], body: Sequence[Sequence[str]]) -> int:
    """The width of a boxed table showing every cell whole (its longest line per column,
    one space of padding each side, one border between and around the columns)."""
    from rich.cells import cell_len

    widths = [
        max(cell_len(line) for cell in column for line in cell.split("\n"))
        for column in zip(header, *body, strict=True)
    ]
    return sum(widths) + 3 * len(widths) + 1


def flag_marker(trust: object) -> str:
    """`` [FLAGGED: <trust>]`` for a flagged snapshot's trust value, else empty."""
    if trust in TRUSTED:
        return ""
    return f" [FLAGGED: {printable(trust if isinstance(trust, str) else 'unknown')}]"


def snapshot_label(snapshot: Snapshot | Mapping[str, Any]) -> str:
    """``<short id>`` plus the agent and the flag marker, escaped, for one-line headers.

    ``snapshot`` is a snapshot or its JSON view (``Snapshot.describe()``).
    """
    view = snapshot.describe() if isinstance(snapshot, Snapshot) else snapshot
    agent = view.get("agent")
    who = f" (agent {printable(agent)})" if isinstance(agent, str) and agent else ""
    return f"{printable(view.get('short_id', ''))}{who}{flag_marker(view.get('trust'))}"


def human_size(value: float, digits: int = 3) -> str:
    """``value`` bytes in binary units: ``512 B``, ``1.500 KiB``, ``4.000 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.{digits}f} {unit}"
        value /= 1024
    return f"{value} B"
