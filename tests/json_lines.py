"""Reading ``--json`` output that is a stream of lines, as restic's is.

``backup --json`` prints ``status`` (and with ``-v`` ``verbose_status``) lines while
it runs, then the ``summary`` line: the result document is the last line.
"""

from __future__ import annotations

import json
from typing import Any


def json_lines(stdout: str) -> list[dict[str, Any]]:
    """Every non-blank line of ``stdout`` as JSON."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def last_json(stdout: str) -> Any:
    """The last line of ``stdout`` as JSON (the result document)."""
    return json_lines(stdout)[-1]


def messages(stdout: str, message_type: str) -> list[dict[str, Any]]:
    """The lines of ``stdout`` with this ``message_type``."""
    return [line for line in json_lines(stdout) if line.get("message_type") == message_type]
