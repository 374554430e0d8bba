"""How ``keyark backup`` shows its events, in restic's shapes.

With ``--json`` stdout carries restic's stream: ``status`` lines while the backup
runs (at most one a second, the first at once, the last when it ends), ``verbose_status`` lines with
``-v`` (one per file and directory), then the ``summary``; an unreadable source is
an ``error`` line on stderr. stderr keeps keyark's own event stream. Without
``--json``, ``-v`` lists new and modified files and directories, ``-vv`` every one.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from keyark.cli.render import Output, human_size, printable
from keyark.cli.status_lines import ItemView, seconds_remaining
from keyark.events import Code, Event, ItemDone, OperationWarning, Progress


class BackupView(ItemView):
    """The backup verb's event sink (wraps :meth:`Output.event`)."""

    def __init__(self, out: Output, verbose: int, *, dry_run: bool = False) -> None:
        super().__init__(out, verbose, status_message, dry_run=dry_run)

    def takes(self, event: Event) -> bool:
        """With ``--json`` an unreadable source is restic's ``error`` line on stderr."""
        if (
            self.out.json
            and isinstance(event, OperationWarning)
            and event.code == Code.SOURCE_UNREADABLE
        ):
            self._error(event)
            return True
        return False

    # ----------------------------------------------------------------- json
    def _error(self, event: OperationWarning) -> None:
        """restic's error line, keyark's warning fields added."""
        data: dict[str, Any] = {
            "message_type": "error",
            "error": {"message": printable(event.message)},
            "during": "archival",
            "item": event.subject or "",
            **event.to_dict(),
        }
        sys.stderr.write(json.dumps(data, default=str) + "\n")
        sys.stderr.flush()

    # ----------------------------------------------------------------- items
    def item(self, event: ItemDone) -> None:
        """One file or directory new, modified or unchanged."""
        if self.out.json:
            data = event.to_dict()
            data.pop("event", None)
            self.lines.write({"message_type": "verbose_status", **data, "total_files": 0})
            return
        if event.action == "unchanged" and self.verbose < 2:
            return
        line = f"{event.action:<9} {event.item}"
        if event.action != "unchanged":
            added = event.data_size + event.metadata_size
            stored = event.data_size_in_repo + event.metadata_size_in_repo
            if self.dry_run:
                line += f" (would add {human_size(added)}, {human_size(stored)} stored)"
            else:
                line += (
                    f", saved in {event.duration:.3f}s "
                    f"({human_size(added)} added, {human_size(stored)} stored)"
                )
        self.out.print(line)


def status_message(event: Progress, elapsed: float) -> dict[str, Any]:
    """restic's ``status`` message for a progress event ``elapsed`` seconds in."""
    fraction = event.fraction or 0.0
    data: dict[str, Any] = {
        "message_type": "status",
        "seconds_elapsed": int(elapsed),
        "percent_done": fraction,
    }
    remaining = seconds_remaining(event, elapsed)
    if remaining is not None:
        data["seconds_remaining"] = remaining
    if event.files_total is not None:
        data["total_files"] = event.files_total
    data["files_done"] = event.files_done
    if event.bytes_total is not None:
        data["total_bytes"] = event.bytes_total
    data["bytes_done"] = event.bytes_done
    data["current_files"] = [event.current] if event.current else []
    return data


__all__ = ["BackupView", "status_message"]
