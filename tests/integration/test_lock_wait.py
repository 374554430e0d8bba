"""Waiting for another session's lock: LockWait events, and a cancel that ends the wait.

Two sessions on one repository (as two processes would be): the holder takes an
exclusive lock, the waiter asks for a shared one with a long retry. The waiter
reports each wait as a ``LockWait`` event naming the holder; a cancel from the
event sink on the first one ends the wait at once with ``CancelledError`` and
leaves no lock object of the waiter. Positive control: without the cancel the
waiter gets its lock as soon as the holder releases.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import PASSWORD

from keyark.backends.local import LocalBackend
from keyark.cancel import CancelToken
from keyark.crypto.slots import Credentials
from keyark.errors import CancelledError
from keyark.events import Event, Events, LockWait
from keyark.repo.locks import LOCK_PREFIX
from keyark.repo.repository import Repository

CREDS = Credentials(passphrase=PASSWORD.encode())


@pytest.fixture
def holder(path: Path) -> Iterator[Repository]:
    with Repository.open(LocalBackend(path), CREDS) as opened:
        yield opened


@pytest.fixture
def waiter(path: Path) -> Iterator[Repository]:
    with Repository.open(LocalBackend(path), CREDS) as opened:
        yield opened


def lock_names(path: Path) -> set[str]:
    return {info.name for info in LocalBackend(path).list(LOCK_PREFIX)}


def test_cancel_on_the_first_lock_wait_ends_the_wait(
    path: Path, holder: Repository, waiter: Repository
) -> None:
    seen: list[Event] = []
    token = CancelToken()

    def sink(event: Event) -> None:
        seen.append(event)
        if isinstance(event, LockWait):
            token.cancel()

    waiter.events, waiter.cancel = Events("backup", sink), token
    with holder.lock("prune", exclusive=True) as held:
        started = time.monotonic()
        with pytest.raises(CancelledError):
            waiter.lock("backup", retry=60.0)
        assert time.monotonic() - started < 10, "the cancel did not end the wait"
        assert lock_names(path) == {held.name}, "the waiter left a lock object"
    waits = [event for event in seen if isinstance(event, LockWait)]
    assert len(waits) == 1, seen
    [wait] = waits
    assert "exclusively by prune" in wait.holder and wait.operation == "backup"
    assert wait.limit == 60.0 and 0 <= wait.waited < 10
    assert lock_names(path) == set()


def test_positive_control_the_waiter_acquires_once_the_holder_releases(
    path: Path, holder: Repository, waiter: Repository
) -> None:
    seen: list[Event] = []
    waiter.events = Events("backup", seen.append)
    held = holder.lock("prune", exclusive=True)
    threading.Timer(1.0, held.release).start()
    started = time.monotonic()
    with waiter.lock("backup", retry=30.0) as acquired:
        assert acquired.held and time.monotonic() - started < 20
        assert lock_names(path) == {acquired.name}
    waits = [event for event in seen if isinstance(event, LockWait)]
    assert waits and all("exclusively by prune" in w.holder for w in waits)
    assert [w.waited for w in waits] == sorted(w.waited for w in waits)
    assert lock_names(path) == set()
