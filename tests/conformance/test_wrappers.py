"""Retry, fault-injection and throttling wrappers, over real backends."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from keyark.backends.base import Backend
from keyark.backends.local import LocalBackend
from keyark.backends.retry import RetryingBackend
from keyark.backends.throttle import ThrottledBackend, TokenBucket
from keyark.cancel import CancelToken
from keyark.errors import (
    CancelledError,
    NotFoundError,
    PermanentBackendError,
    TransientBackendError,
)
from keyark.events import Event, Events, Retry
from keyark.testing.faults import FaultInjectingBackend

from .servers import FTPInfo, open_fresh_backend

MIB = 1024 * 1024


@pytest.mark.parametrize("kind", ["local", "sftp", "s3", "ftp"])
def test_retry_survives_twenty_percent_faults(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inner = open_fresh_backend(kind, request, tmp_path)
    faulty = FaultInjectingBackend(inner, transient_rate=0.2, seed=1234)
    backend = RetryingBackend(faulty, attempts=12, base_delay=0.001, max_delay=0.01, seed=1)
    names = [f"data/{h[:2]}/{h}" for h in (secrets.token_hex(32) for _ in range(40))]
    payload = {name: secrets.token_bytes(2000) for name in names}
    with caplog.at_level(logging.WARNING, logger="keyark.backend"):
        for name in names:
            backend.put(name, payload[name])
        for name in names:
            assert backend.get(name) == payload[name]
            assert backend.get(name, 100, 50) == payload[name][100:150]
            assert backend.stat(name).size == 2000
        for _ in range(20):
            listed = [info.name for info in backend.list("data/")]
            assert sorted(listed) == sorted(names), "listing lost or repeated names"
        for name in names[:20]:
            backend.delete(name)
        assert sorted(info.name for info in backend.list("")) == sorted(names[20:])
        with pytest.raises(NotFoundError):
            backend.get(names[0])
    backend.close()
    injected = faulty.injected
    assert injected["put-after"] > 0 and injected["put-before"] > 0, injected
    assert injected["get"] > 0 and injected["stat"] > 0, injected
    assert injected["list"] + injected["list-midway"] > 0, injected
    assert backend.retries == sum(injected.values()), "every injected fault costs one retry"
    warnings = [r for r in caplog.records if r.name == "keyark.backend"]
    assert len(warnings) == backend.retries
    assert all(r.levelno == logging.WARNING for r in warnings)
    if kind == "ftp":
        password = request.getfixturevalue("ftp_server").password
        assert not any(password in r.getMessage() for r in warnings)


def test_retry_is_bounded_with_full_jitter(tmp_path: Path) -> None:
    delays: list[float] = []
    always = FaultInjectingBackend(LocalBackend(tmp_path), transient_rate=1.0, seed=3)
    backend = RetryingBackend(
        always, attempts=5, base_delay=0.1, max_delay=0.25, sleep=delays.append, seed=7
    )
    with pytest.raises(TransientBackendError):
        backend.get("config")
    assert len(delays) == 4
    caps = [0.1, 0.2, 0.25, 0.25]
    assert all(0 <= d <= cap for d, cap in zip(delays, caps, strict=True)), delays
    assert len(set(delays)) == 4, "jitter should vary the delays"


def test_permanent_and_not_found_are_not_retried(tmp_path: Path) -> None:
    sleeps: list[float] = []
    backend = RetryingBackend(LocalBackend(tmp_path), attempts=5, sleep=sleeps.append)
    with pytest.raises(NotFoundError):
        backend.get("config")
    dead = RetryingBackend(
        FaultInjectingBackend(LocalBackend(tmp_path), transient_rate=0.0, permanent_after=0),
        attempts=5,
        sleep=sleeps.append,
    )
    with pytest.raises(PermanentBackendError):
        dead.put("config", b"x")
    assert sleeps == [] and backend.retries == 0 and dead.retries == 0


def test_each_retry_emits_a_retry_event(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    inner = LocalBackend(tmp_path)
    inner.put("config", b"x")
    seen: list[Event] = []
    events = Events("check", seen.append)
    calm = RetryingBackend(inner, attempts=5, sleep=lambda _seconds: None, events=events)
    assert calm.get("config") == b"x"
    assert seen == [] and calm.retries == 0  # no transient error, no event
    faulty = FaultInjectingBackend(inner, transient_rate=1.0, seed=1)
    delays: list[float] = []

    def sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 2:
            faulty.transient_rate = 0.0  # the third attempt succeeds

    backend = RetryingBackend(faulty, attempts=5, sleep=sleep, seed=3, events=events)
    with caplog.at_level(logging.WARNING, logger="keyark.backend"):
        assert backend.get("config") == b"x"
    retries = [event for event in seen if isinstance(event, Retry)]
    assert len(seen) == len(retries) == backend.retries == 2
    assert [event.attempt for event in retries] == [1, 2]
    assert [event.delay for event in retries] == delays
    for event in retries:
        assert event.operation == "check"
        assert event.error.startswith("get config: injected transient failure")
    assert len([r for r in caplog.records if r.name == "keyark.backend"]) == 2  # still logged


def test_cancel_ends_a_backoff_at_once(tmp_path: Path) -> None:
    token = CancelToken()
    retried = threading.Event()
    seen: list[Retry] = []

    def sink(event: Event) -> None:
        if isinstance(event, Retry):
            seen.append(event)
            retried.set()

    def cancel_on_retry() -> None:
        if retried.wait(30):
            token.cancel()

    always = FaultInjectingBackend(LocalBackend(tmp_path), transient_rate=1.0, seed=1)
    # seed 2: the first backoff is 57 s (full jitter up to 60 s).
    backend = RetryingBackend(
        always,
        attempts=10,
        base_delay=60.0,
        max_delay=60.0,
        seed=2,
        events=Events("backup", sink),
        cancel=token,
    )
    canceller = threading.Thread(target=cancel_on_retry)
    canceller.start()
    started = time.monotonic()
    with pytest.raises(CancelledError):
        backend.get("config")
    took = time.monotonic() - started
    canceller.join()
    assert len(seen) == 1 and seen[0].attempt == 1 and seen[0].delay > 30
    assert took < 5, f"the cancel took {took:.1f}s to end a {seen[0].delay:.0f}s backoff"
    assert always.injected["get"] == 1, "no attempt after the cancel"


def test_lost_put_response_then_retry_succeeds(tmp_path: Path) -> None:
    faulty = FaultInjectingBackend(LocalBackend(tmp_path), transient_rate=1.0, after_put_rate=1.0)
    with pytest.raises(TransientBackendError):
        faulty.put("keys/aa", b"slot")
    faulty.transient_rate = 0.0
    faulty.put("keys/aa", b"slot")  # identical content: success
    assert faulty.get("keys/aa") == b"slot"


def test_faults_are_deterministic_with_seed(tmp_path: Path) -> None:
    def run(seed: int) -> list[str]:
        faulty = FaultInjectingBackend(LocalBackend(tmp_path / str(seed)), 0.3, seed=seed)
        outcome = []
        for number in range(50):
            try:
                faulty.put(f"index/{number:04d}", b"x", overwrite=True)
                outcome.append("ok")
            except TransientBackendError as error:
                outcome.append(str(error).split("(")[1].split(")")[0])
        return outcome

    first, second = run(5), run(5)
    assert first == second and first != ["ok"] * 50


def _timed(function: Callable[[], object]) -> float:
    started = time.monotonic()
    function()
    return time.monotonic() - started


# The inner transfer's own time counts too: the slower server gets a lower limit.
@pytest.mark.parametrize(("kind", "rate_kib"), [("local", 4096), ("s3", 2048)])
def test_throttle_within_ten_percent_on_10_mib(
    kind: str, rate_kib: int, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    inner: Backend = open_fresh_backend(kind, request, tmp_path)
    expected = 10 * MIB / (rate_kib * 1024)
    backend = ThrottledBackend(inner, upload_kib_s=rate_kib, download_kib_s=rate_kib)
    data = secrets.token_bytes(10 * MIB)
    upload = _timed(lambda: backend.put("data/aa/big", data))
    download = _timed(lambda: backend.get("data/aa/big"))
    # Four threads share one budget: 4 x 2.5 MiB take as long as 10 MiB.
    parts = [secrets.token_bytes(10 * MIB // 4) for _ in range(4)]
    threads = [
        threading.Thread(target=backend.put, args=(f"data/bb/{n}", part))
        for n, part in enumerate(parts)
    ]

    def run_all() -> None:
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    shared = _timed(run_all)
    backend.close()
    for what, took in (("upload", upload), ("download", download), ("shared", shared)):
        assert abs(took - expected) <= 0.1 * expected, f"{what} took {took:.2f}s, not {expected}s"


def test_token_bucket_charges_debt_fairly() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)

    bucket = TokenBucket(1000, clock=lambda: now[0], sleep=sleep)
    assert bucket.take(100) == 0.0  # the 0.1 s burst
    assert bucket.take(1000) == pytest.approx(1.0)
    assert bucket.take(500) == pytest.approx(1.5)  # queued behind the first debt
    now[0] = 10.0
    assert bucket.take(50) == 0.0


def test_ftp_password_not_in_errors(ftp_server: FTPInfo) -> None:
    from keyark.backends.registry import BackendOptions, open_backend

    wrong = "definitely-wrong-" + secrets.token_hex(4)
    backend = open_backend(
        f"ftp://{ftp_server.user}:{wrong}@127.0.0.1:{ftp_server.port}/x", BackendOptions()
    )
    with pytest.raises(PermanentBackendError, match="login failed") as caught:
        backend.stat("config")
    assert wrong not in str(caught.value)


def test_a_cancel_ends_a_bandwidth_wait_at_once(tmp_path: Path) -> None:
    token = CancelToken()
    backend = ThrottledBackend(LocalBackend(tmp_path), upload_kib_s=1, cancel=token)
    backend.put("small", b"x" * 100)  # positive control: within the burst, no wait
    token.cancel()
    clock = time.monotonic()
    with pytest.raises(CancelledError):
        backend.put("large", b"x" * 1_000_000)  # would wait about 1,000 s at 1 KiB/s
    assert time.monotonic() - clock < 5.0
    assert not (tmp_path / "large").exists()
