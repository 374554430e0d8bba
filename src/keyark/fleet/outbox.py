"""An enrolled agent's outbox: run reports not yet delivered to the server.

Every run of an enrolled agent's job queues its report here (``outbox.json`` in the
agent directory, 0600) before it is sent; a report leaves the outbox only when the server
stored it (or refused it for good), so a server outage loses no report: the next run
sends the queued ones first, oldest first. The file is read and rewritten under an
exclusive ``flock`` of ``outbox.lock``, so the daemon and a one-shot ``run`` of the same
agent neither lose nor double-send a report.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from keyark.fleet.enrolled import write_private

FILE_NAME = "outbox.json"
LOCK_NAME = "outbox.lock"
#: The most reports kept; when more are queued, the oldest are dropped.
LIMIT = 500


class Outbox:
    """The queued reports of one agent directory."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / FILE_NAME
        self._lock = directory / LOCK_NAME

    def documents(self) -> list[dict[str, Any]]:
        """The queued reports, oldest first (a missing or unreadable file: none)."""
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        if not isinstance(document, list):
            return []
        return [entry for entry in document if isinstance(entry, dict)]

    @contextmanager
    def held(self) -> Iterator[list[dict[str, Any]]]:
        """The queued reports under the outbox's lock, as a list to change in place; it is
        written back (0600, atomically) when the block ends without an exception."""
        fd = os.open(self._lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            queued = self.documents()
            before = list(queued)
            yield queued
            if queued != before:
                write_private(self.path, json.dumps(queued, indent=1).encode())
        finally:
            os.close(fd)  # releases the lock


def report_key(document: dict[str, Any]) -> tuple[str, str]:
    """What tells one run's report from another's: its job and start time."""
    return str(document.get("job")), str(document.get("started"))


__all__ = ["FILE_NAME", "LIMIT", "LOCK_NAME", "Outbox", "report_key"]
