"""Exactly-once scheduled work across instances: row claims with leases.

Before an instance starts a task's run due at a given time it claims the pair
``(task, scheduled)``. The claim is one row of ``claims``, written in a transaction
that holds an exclusive lock named after the task (PostgreSQL: an advisory transaction
lock; SQLite: the database's write lock, one host), so two instances never both get it:

- no row: the claim is inserted and granted;
- a row marked ``done``: the run happened; refused;
- a row of another instance whose lease has not expired: it runs; refused;
- a row whose lease expired (its instance died or lost the database): taken over;
  the grant names the previous holder (:attr:`Claim.taken_over_from`).

The holder renews its lease while the run goes on (:meth:`TaskClaims.renew`, a
heartbeat well inside the lease) and marks it ``done`` when the run ended.
:meth:`TaskClaims.expired` lists claims whose holder stopped renewing, for another
instance to take over. Times are UTC ISO text (``keyark.control.dialect.time_text``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from keyark.control.database import ControlDatabase
from keyark.control.dialect import time_text
from keyark.control.migrations import migrate

#: The claims table's schema versions (append only).
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE IF NOT EXISTS claims (
            task TEXT NOT NULL,
            scheduled TEXT NOT NULL,
            instance TEXT NOT NULL,
            lease_until TEXT NOT NULL,
            state TEXT NOT NULL,
            taken_over_from TEXT,
            claimed TEXT NOT NULL,
            PRIMARY KEY (task, scheduled)
        )""",
        "CREATE INDEX IF NOT EXISTS claims_open ON claims (state, lease_until)",
    ),
)

#: How long a claim lasts without a renewal (an instance that dies is taken over after it).
DEFAULT_LEASE = timedelta(seconds=30)
#: The row of a claim its instance still holds (running); its parameters: :func:`_held`.
_HELD = "task = ? AND scheduled = ? AND instance = ? AND state = 'running'"


@dataclass(frozen=True)
class Claim:
    """A granted claim: this instance runs ``task`` due at ``scheduled``."""

    task: str
    scheduled: datetime
    instance: str
    #: The instance whose expired claim this one took over (None: a first claim).
    taken_over_from: str | None = None


@dataclass(frozen=True)
class ExpiredClaim:
    """A claim whose holder stopped renewing it before the run ended."""

    task: str
    scheduled: datetime
    instance: str


class TaskClaims:
    """The claims of one control database, made by one instance."""

    def __init__(
        self, database: ControlDatabase, instance: str, *, lease: timedelta = DEFAULT_LEASE
    ) -> None:
        self.database = database
        self.instance = instance
        self.lease = lease

    def _ready(self) -> ControlDatabase:
        migrate(self.database, "claims", MIGRATIONS)
        return self.database

    def claim(self, task: str, scheduled: datetime, now: datetime | None = None) -> Claim | None:
        """Claim the run of ``task`` due at ``scheduled``; None when another instance has
        it (a live lease) or it is done (see the module)."""
        now = now or datetime.now(UTC)
        key = (task, time_text(scheduled))
        until = time_text(now + self.lease)
        with self._ready().transaction() as db:
            db.lock(f"keyark-claim:{task}")
            rows = db.execute(
                "SELECT instance, lease_until, state FROM claims WHERE task = ? AND scheduled = ?",
                key,
            )
            if not rows:
                db.execute(
                    "INSERT INTO claims (task, scheduled, instance, lease_until, state, claimed)"
                    " VALUES (?, ?, ?, ?, 'running', ?)",
                    (*key, self.instance, until, time_text(now)),
                )
                return Claim(task, scheduled, self.instance)
            row = rows[0]
            if row["state"] == "done":
                return None
            if row["instance"] == self.instance:
                db.execute(
                    "UPDATE claims SET lease_until = ? WHERE task = ? AND scheduled = ?",
                    (until, *key),
                )
                return Claim(task, scheduled, self.instance)
            if row["lease_until"] > time_text(now):
                return None
            db.execute(
                "UPDATE claims SET instance = ?, lease_until = ?, taken_over_from = ?,"
                " claimed = ? WHERE task = ? AND scheduled = ?",
                (self.instance, until, row["instance"], time_text(now), *key),
            )
            return Claim(task, scheduled, self.instance, taken_over_from=row["instance"])

    def renew(self, claim: Claim, now: datetime | None = None) -> bool:
        """Extend ``claim``'s lease; False when it is no longer this instance's."""
        now = now or datetime.now(UTC)
        with self._ready().transaction() as db:
            done = db.execute(
                f"UPDATE claims SET lease_until = ? WHERE {_HELD} RETURNING task",  # noqa: S608 (fixed text)
                (time_text(now + self.lease), *_held(claim)),
            )
        return bool(done)

    def finish(self, claim: Claim) -> None:
        """Mark the claimed run done: nobody runs it again."""
        with self._ready().transaction() as db:
            db.execute(f"UPDATE claims SET state = 'done' WHERE {_HELD}", _held(claim))  # noqa: S608 (fixed text)

    def release(self, claim: Claim) -> None:
        """Give ``claim`` up before its run started (another instance may take it at once)."""
        with self._ready().transaction() as db:
            db.execute(f"DELETE FROM claims WHERE {_HELD}", _held(claim))  # noqa: S608 (fixed text)

    def expired(self, now: datetime | None = None) -> list[ExpiredClaim]:
        """Claims of other instances whose lease passed before their run ended."""
        now = now or datetime.now(UTC)
        with self._ready().transaction() as db:
            rows = db.execute(
                "SELECT task, scheduled, instance FROM claims WHERE state = 'running'"
                " AND lease_until < ? AND instance <> ? ORDER BY scheduled",
                (time_text(now), self.instance),
            )
        return [
            ExpiredClaim(row["task"], datetime.fromisoformat(row["scheduled"]), row["instance"])
            for row in rows
        ]


def _held(claim: Claim) -> tuple[str, str, str]:
    """The parameters of :data:`_HELD` for ``claim``."""
    return (claim.task, time_text(claim.scheduled), claim.instance)
