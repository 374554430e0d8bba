"""How ``keyark restore`` shows its events, in restic 0.17's shapes.

With ``--json`` stdout carries restic's stream: ``status`` lines while the restore
runs, a ``verbose_status`` line per entry with ``-v`` (``action`` ``restored``,
``updated``, ``unchanged`` or ``deleted``, ``item``, ``size``), then the ``summary``;
stderr keeps keyark's own event stream. Without ``--json``, ``-v`` lists the entries
restored, updated and deleted, ``-vv`` the unchanged ones too (``would restore`` ...
in a dry run). Directories are not listed, only what is in them.
"""

from __future__ import annotations

from keyark.cli.render import Output, human_size
from keyark.cli.status_lines import StatusLines, restore_status
from keyark.events import Event, ItemDone

#: The dry run's words for an action.
_WOULD = {"restored": "would restore", "updated": "would update", "deleted": "would delete"}


class RestoreView:
    """The restore verb's event sink (wraps :meth:`Output.event`)."""

    def __init__(self, out: Output, verbose: int, *, dry_run: bool = False) -> None:
        self.out = out
        self.verbose = verbose
        self.dry_run = dry_run
        self.lines = StatusLines(restore_status)

    @property
    def wants_items(self) -> bool:
        """Whether the restore should report every entry it writes, keeps or deletes."""
        return self.verbose > 0

    def event(self, event: Event) -> None:
        """Render one event of the restore."""
        if isinstance(event, ItemDone):
            self._item(event)
            return
        if self.out.json:
            self.lines.observe(event)  # restic's status lines on stdout, before the summary
        self.out.event(event)

    def _item(self, event: ItemDone) -> None:
        if self.out.json:
            self.lines.write(
                {
                    "message_type": "verbose_status",
                    "action": event.action,
                    "item": event.item,
                    "size": event.data_size,
                }
            )
            return
        if event.action == "unchanged" and self.verbose < 2:
            return
        action = _WOULD.get(event.action, event.action) if self.dry_run else event.action
        line = f"{action:<9} {event.item}"
        if event.action != "deleted" and event.data_size:
            line += f" with size {human_size(event.data_size)}"
        self.out.print(line)


__all__ = ["RestoreView"]
