"""keyark.process.signal_handlers: handlers for a block, the previous ones back after it."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import pytest

from keyark.process import signal_handlers


def _mine(_number: int, _frame: FrameType | None) -> None:
    """A handler that tells itself apart from any other."""


def test_the_handlers_hold_in_the_block_and_the_previous_ones_come_back() -> None:
    before = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGHUP)}
    with pytest.raises(RuntimeError):
        with signal_handlers({signal.SIGTERM: _mine, signal.SIGHUP: signal.SIG_IGN}):
            assert signal.getsignal(signal.SIGTERM) is _mine
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
            raise RuntimeError("the block fails")  # the handlers still come back
    assert {number: signal.getsignal(number) for number in before} == before


def test_outside_the_main_thread_nothing_changes_and_the_block_runs() -> None:
    before = signal.getsignal(signal.SIGTERM)
    seen: list[object] = []

    def worker() -> None:
        with signal_handlers({signal.SIGTERM: _mine}):
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [before]
    assert signal.getsignal(signal.SIGTERM) == before
