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
from keyark.cli.status_lines import ItemView, restore_status
from keyark.events import ItemDone

#: The dry run's words for an action.
_WOULD = {"restored": "would restore", "updated": "would update", "deleted": "would delete"}


class RestoreView(ItemView):
    """The restore verb's event sink (wraps :meth:`Output.event`)."""

    def __init__(self, out: Output, verbose: int, *, dry_run: bool = False) -> None:
        super().__init__(out, verbose, restore_status, dry_run=dry_run)

    def item(self, event: ItemDone) -> None:
        """One entry restored, updated, kept or deleted."""
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
