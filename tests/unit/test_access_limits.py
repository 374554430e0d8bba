"""Rate limits (token buckets with Retry-After) and lockout after failed logins."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from keyark.access.lockout import Lockout, LockoutPolicy
from keyark.access.ratelimit import RateLimiter
from keyark.errors import RateLimitedError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_burst_then_refuses_with_retry_after_then_refills() -> None:
    clock = Clock()
    limiter = RateLimiter(6, burst=3, clock=clock)  # one request per 10 s
    for _ in range(3):
        limiter.check("token:ci")
    with pytest.raises(RateLimitedError) as refused:
        limiter.check("token:ci")
    assert refused.value.retry_after == 10
    limiter.check("token:other")  # keys are separate
    clock.now += 9
    assert limiter.wait_for("token:ci") == pytest.approx(1.0)
    clock.now += 1
    limiter.check("token:ci")
    with pytest.raises(RateLimitedError):
        limiter.check("token:ci")


def test_lockout_after_threshold_for_any_name_and_cleared_by_success(tmp_path: Path) -> None:
    lockout = Lockout(tmp_path, LockoutPolicy(threshold=3, duration=timedelta(minutes=5)))
    for name in ("alice", "no-such-user"):
        assert [lockout.failed(name) for _ in range(3)] == [False, False, True]
        with pytest.raises(RateLimitedError) as locked:
            lockout.check(name)
        assert 290 < locked.value.retry_after <= 300
    lockout.check("bob")
    lockout.failed("bob")
    lockout.succeeded("bob")
    assert [lockout.failed("bob") for _ in range(3)] == [False, False, True]  # count restarted
    lockout.unlock("alice")
    lockout.check("alice")
    # Another process sees the same lockout (kept in access.db).
    with pytest.raises(RateLimitedError):
        Lockout(tmp_path).check("no-such-user")


def test_expired_lockout_lets_the_user_try_again(tmp_path: Path) -> None:
    lockout = Lockout(tmp_path, LockoutPolicy(threshold=1, duration=timedelta(seconds=-1)))
    assert lockout.failed("eve")
    lockout.check("eve")  # the lock already ended
