"""``keyark serve`` as installed, in a subprocess: started, its URL read from uvicorn's
line, stopped with SIGTERM (killed if it does not end). For tests that run several.

    with serve_process([keyark_binary(), "serve", "--config", c, "--listen", "127.0.0.1:0"],
                       env, log_path) as (url, process):
        ...
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: uvicorn's line once it listens (the port the OS chose for ``--listen 127.0.0.1:0``).
LISTENING = re.compile(r"Uvicorn running on (https?://127\.0\.0\.1:\d+)")


def stop(process: subprocess.Popen[str], timeout: float = 60) -> None:
    """SIGTERM ``process`` if it still runs; SIGKILL when it has not ended in ``timeout``."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def serve_process(
    command: list[str], env: dict[str, str], log_path: Path, timeout: float = 120
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run ``command`` (its output into ``log_path``); its URL once uvicorn says it
    listens, and the process. Stopped (:func:`stop`) when the block ends."""
    with log_path.open("w+") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True
        )
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                log.seek(0)
                found = LISTENING.search(log.read())
                if found:
                    break
                assert process.poll() is None, f"keyark serve exited: {log_path.read_text()}"
                time.sleep(0.1)
            else:
                raise AssertionError("keyark serve did not start listening")
            yield found.group(1), process
        finally:
            stop(process)
