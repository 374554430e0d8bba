"""The live progress bar of :meth:`keyark.cli.render.Output.progress` (rich's progress
machinery, imported only by verbs that draw a bar on a terminal)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
)
from rich.table import Column
from rich.text import Text

from keyark.cli.render import clock, human_size


class SizeColumn(ProgressColumn):
    """Bytes done and total in the summary's binary units (``1.500 MiB / 4.000 MiB``)."""

    def render(self, task: Task) -> Text:
        done = human_size(task.completed)
        return Text(f"{done} / {human_size(task.total)}" if task.total is not None else done)


class SpeedColumn(ProgressColumn):
    """Bytes a second in binary units (``55.4 MiB/s``)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{human_size(speed, digits=1)}/s")


class EtaColumn(ProgressColumn):
    """``ETA 0:01:05`` (``ETA -:--:--`` until a speed is known)."""

    def render(self, task: Task) -> Text:
        left = task.time_remaining
        return Text(f"ETA {'-:--:--' if left is None else clock(left)}")


class ItemLine:
    """The line below the bar: time elapsed and the item being worked on, the item's
    start cut (``…/leaf/e.pem``) to fit the terminal."""

    def __init__(self, elapsed: float, item: str) -> None:
        self.head = f"  {clock(elapsed)}"
        self.item = item

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        room = options.max_width - cell_len(self.head) - 1
        item = self.item
        if item and cell_len(item) > room:
            while item and cell_len(item) + 1 > room:
                item = item[1:]
            item = f"\u2026{item}"
        yield Text(f"{self.head} {item}".rstrip(), no_wrap=True, overflow="crop")


class ItemProgress(Progress):
    """A progress bar with, below it, the time elapsed and the current item."""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        for task in self.tasks:
            yield ItemLine(task.elapsed or 0.0, str(task.fields.get("current") or ""))


def progress_bar(console: Console, label: str, unit: str = "bytes") -> ItemProgress:
    """The live bar: percentage, done/total (a ``bytes`` unit: sizes in the summary's
    binary units, speed, files done/total), ETA; below it the time elapsed and the
    current item. The bar takes the width the numbers leave."""
    columns: list[ProgressColumn] = [
        TextColumn(f"[bold]{label}", table_column=Column(no_wrap=True)),
        BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=5)),
        TaskProgressColumn(table_column=Column(no_wrap=True)),
    ]
    if unit == "bytes":
        columns += [
            SizeColumn(table_column=Column(no_wrap=True)),
            SpeedColumn(table_column=Column(no_wrap=True)),
            TextColumn("{task.fields[files]}", table_column=Column(no_wrap=True)),
        ]
    else:
        columns += [
            MofNCompleteColumn(table_column=Column(no_wrap=True)),
            TextColumn(unit, table_column=Column(no_wrap=True)),
        ]
    columns.append(EtaColumn(table_column=Column(no_wrap=True)))
    return ItemProgress(*columns, console=console, transient=True, expand=True)
