"""Lockout after repeated failed logins, per login name (kept in the control database).

After ``threshold`` failures in a row a name is locked for ``duration``: every login
as that name is refused (429 with the seconds left) whatever the password. The count
is kept for any name tried, known or not, so a lockout says nothing about which names
exist. A success clears the count. The caller records the lockout in the audit log.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from keyark.access.store import AccessDatabase, now_utc, read_time, stored_time
from keyark.control.database import ControlDatabase
from keyark.errors import RateLimitedError


@dataclass(frozen=True)
class LockoutPolicy:
    """How many failed logins in a row lock a name, and for how long."""

    threshold: int = 5
    duration: timedelta = timedelta(minutes=15)


class Lockout:
    """Failed-login counts and lockouts of one control database (shared by its servers)."""

    def __init__(
        self,
        state_dir: Path,
        policy: LockoutPolicy | None = None,
        *,
        database: ControlDatabase | None = None,
    ) -> None:
        """``database``: the control database (default: SQLite in ``state_dir``)."""
        self._db = AccessDatabase(state_dir, database)
        self.policy = policy or LockoutPolicy()

    def check(self, name: str) -> None:
        """RateLimitedError (``retry_after``: seconds left) while ``name`` is locked."""
        with self._db.transaction() as db:
            rows = db.execute("SELECT locked_until FROM lockouts WHERE name = ?", (name,))
        until = read_time(rows[0]["locked_until"]) if rows else None
        if until is None:
            return
        left = (until - now_utc()).total_seconds()
        if left > 0:
            seconds = max(1, math.ceil(left))
            raise RateLimitedError(
                f"too many failed logins for this user; locked for {seconds} s more",
                retry_after=seconds,
            )

    def failed(self, name: str) -> bool:
        """Count a failed login of ``name``; True when this failure locks it."""
        with self._db.transaction() as db:
            db.lock(f"keyark-lockout:{name}")  # servers counting failures at once lose none
            rows = db.execute("SELECT failures FROM lockouts WHERE name = ?", (name,))
            failures = (int(rows[0]["failures"]) if rows else 0) + 1
            locked = failures >= self.policy.threshold
            until = stored_time(now_utc() + self.policy.duration) if locked else None
            db.execute(
                "INSERT INTO lockouts (name, failures, locked_until) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET failures = excluded.failures, "
                "locked_until = excluded.locked_until",
                (name, 0 if locked else failures, until),
            )
        return locked

    def succeeded(self, name: str) -> None:
        """Clear ``name``'s count after a successful login."""
        with self._db.transaction() as db:
            db.execute("DELETE FROM lockouts WHERE name = ?", (name,))

    def unlock(self, name: str) -> None:
        """End ``name``'s lockout now (an administrator's choice)."""
        self.succeeded(name)


__all__ = ["Lockout", "LockoutPolicy"]
