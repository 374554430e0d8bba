"""Typed events, the event bus and the cancel token (issue 10 §3, §4)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from keyark.cancel import CancelToken
from keyark.errors import EXIT_INTERRUPTED, CancelledError
from keyark.events import (
    Code,
    Event,
    EventBus,
    Events,
    Finished,
    OperationWarning,
    Progress,
)
from keyark.process import EXIT_TERMINATED
from keyark.redaction import register_secret


def test_warnings_carry_a_stable_code_and_are_redacted() -> None:
    seen: list[Event] = []
    register_secret("hunter2-secret-value")
    events = Events("backup", seen.append)
    events.warn(Code.SOURCE_UNREADABLE, "cannot read /x: hunter2-secret-value", subject="/x")
    (warning,) = seen
    assert isinstance(warning, OperationWarning)
    assert warning.code == "source.unreadable" and warning.operation == "backup"
    assert "hunter2-secret-value" not in warning.message
    assert events.warnings == [warning]
    data = warning.to_dict()
    assert data["event"] == "warning" and json.loads(json.dumps(data))["subject"] == "/x"


def test_progress_is_rate_limited_but_the_final_event_always_passes() -> None:
    seen: list[Event] = []
    events = Events("check", seen.append, interval=60.0)
    for done in range(100):
        events.progress("read", files_done=done, files_total=100)
    assert len(seen) == 1  # the first passes, the rest fall inside the interval
    events.progress("read", files_done=100, files_total=100, final=True)
    last = seen[-1]
    assert isinstance(last, Progress) and last.files_done == 100 and last.fraction == 1.0


def test_a_failing_listener_does_not_fail_the_operation_or_starve_others() -> None:
    bus = EventBus()
    got: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("listener bug")

    bus.subscribe(broken)
    unsubscribe = bus.subscribe(got.append)
    Events("prune", bus).finished({"ok": True}, 1.0)
    assert isinstance(got[0], Finished) and got[0].result == {"ok": True}
    unsubscribe()
    Events("prune", bus).finished({}, 0.0)
    assert len(got) == 1


def test_child_events_share_the_sink_under_their_own_name() -> None:
    seen: list[Event] = []
    Events("backup", seen.append).child("rotate").warn(Code.ROTATION_DUE, "due")
    assert seen[0].operation == "rotate"


def test_cancel_token_checkpoint_and_exit_codes() -> None:
    token = CancelToken()
    token.check()  # positive control: nothing asked, nothing raised
    token.cancel("terminated", EXIT_TERMINATED)
    token.cancel("interrupted", EXIT_INTERRUPTED)  # the first reason wins
    with pytest.raises(CancelledError) as caught:
        token.check()
    assert caught.value.exit_code == EXIT_TERMINATED and caught.value.code == "cancelled"


def test_cancel_ends_a_sleep_at_once() -> None:
    token = CancelToken()
    timer = threading.Timer(0.05, token.cancel)
    timer.start()
    clock = time.monotonic()
    with pytest.raises(CancelledError):
        token.sleep(30.0)
    assert time.monotonic() - clock < 10.0
    timer.join()


def test_an_uncancelled_sleep_returns_normally() -> None:
    CancelToken().sleep(0.01)
