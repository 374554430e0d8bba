"""What the run history says, for metrics: per job and per repository.

The history can hold one row per run for years; counts are SQL aggregates and "the
newest" is an indexed lookup, so a scrape costs the same after a million runs. It is
read through the run store (:meth:`keyark.state.runs.RunStore.reading`), so the metrics
see the history where the config keeps it (SQLite ``state.db`` or the PostgreSQL of
``server.database``), in one read-only transaction per source: a scrape never creates or
changes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from keyark.control.database import Row, Transaction
from keyark.state.runs import RunStore

#: The statuses a run ends with (``running`` is not counted until it ends).
ENDED = ("success", "partial", "failed", "skipped", "missed")
#: The statuses of runs that ran (``skipped`` and ``missed`` never started).
RAN = ("success", "partial", "failed")
#: ``keyark_job_last_run_status``: the number of each status of a run that ran.
STATUS_VALUES = {"success": 0, "partial": 1, "failed": 2}
#: The maintenance task whose history says when each repository was last checked.
CHECK_TASK = "maintenance.check"
#: The history name prefix of restore drills (``drill:<job or repository>``).
DRILL_PREFIX = "drill:"
#: Check runs read at a time while looking for each repository's newest good check.
_PAGE = 200


@dataclass
class JobFacts:
    """One job's (or maintenance task's) history, as metrics."""

    name: str
    #: Runs ended per status (every status of :data:`ENDED`, zeros included).
    runs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENDED, 0))
    #: The newest run that ran: when it ended, how, how long it took.
    last_run: datetime | None = None
    last_status: str | None = None
    last_duration: float | None = None
    #: When the newest successful run ended, and the snapshot it made.
    last_success: datetime | None = None
    last_snapshot: str | None = None
    #: Bytes the newest run that recorded them added to the repository.
    added_bytes: int | None = None


def job_facts(store: RunStore, names: Iterable[str]) -> list[JobFacts]:
    """The facts of each named job or task, from ``store``'s history."""
    facts = {name: JobFacts(name) for name in names}
    with store.reading() as db:
        if db is None or not facts:
            return list(facts.values())
        marks = ", ".join("?" for _ in facts)
        counted = db.execute(
            f"SELECT job, status, COUNT(*) AS runs FROM runs WHERE job IN ({marks})"  # noqa: S608
            " GROUP BY job, status",
            list(facts),
        )
        for row in counted:
            if row["status"] in ENDED:
                facts[row["job"]].runs[row["status"]] = int(row["runs"])
        for job in facts.values():
            _newest(db, job)
    return list(facts.values())


def _newest(db: Transaction, job: JobFacts) -> None:
    """Fill the job's newest run, newest success and newest added bytes."""
    ran = ", ".join(f"'{status}'" for status in RAN)
    query = "SELECT * FROM runs WHERE job = ? AND status {} ORDER BY id DESC LIMIT 1"
    row = _first(db.execute(query.format(f"IN ({ran})"), (job.name,)))
    if row is not None:
        job.last_run = _moment(row["finished"] or row["started"])
        job.last_status = row["status"]
        job.last_duration = row["duration"]
    row = _first(db.execute(query.format("= 'success'"), (job.name,)))
    if row is not None:
        job.last_success = _moment(row["finished"] or row["started"])
        job.last_snapshot = row["snapshot_id"]
    row = _first(
        db.execute(
            "SELECT bytes_added FROM runs WHERE job = ? AND bytes_added IS NOT NULL"
            " ORDER BY id DESC LIMIT 1",
            (job.name,),
        )
    )
    if row is not None:
        job.added_bytes = int(row["bytes_added"])


def last_checks(store: RunStore, repositories: Iterable[str]) -> dict[str, datetime]:
    """Repository name -> when its newest successful scheduled check ended.

    A run of the check task checks each repository as one step (``check NAME``); a run
    that failed on one repository still counts for the others whose step ended ``ok``.
    """
    wanted = set(repositories)
    found: dict[str, datetime] = {}
    with store.reading() as db:
        if db is None:
            return found
        before: int | None = None
        while len(found) < len(wanted):
            rows = db.execute(
                "SELECT id, finished, started, steps FROM runs WHERE job = ?"
                " AND finished IS NOT NULL AND id < ? ORDER BY id DESC LIMIT ?",
                (CHECK_TASK, 2**62 if before is None else before, _PAGE),
            )
            for row in rows:
                _checked(row, wanted, found)
            if len(rows) < _PAGE:
                break
            before = int(rows[-1]["id"])
    return found


@dataclass
class DrillFacts:
    """One job's (or repository's) restore drills, as metrics."""

    name: str
    #: When the newest successful drill ended.
    last_success: datetime | None = None
    #: The measured restore time of the newest drill that ended.
    last_duration: float | None = None


def drill_facts(store: RunStore, names: Iterable[str]) -> list[DrillFacts]:
    """The drills of each named job or repository (rows ``drill:<name>``, kind ``drill``);
    a name never drilled is left out."""
    found: list[DrillFacts] = []
    with store.reading() as db:
        if db is None:
            return found
        query = (
            "SELECT finished, started, duration FROM runs WHERE job = ? AND kind = 'drill'"
            " AND status {} ORDER BY id DESC LIMIT 1"
        )
        for name in dict.fromkeys(names):
            job = DRILL_PREFIX + name
            facts = DrillFacts(name)
            row = _first(db.execute(query.format("IN ('success', 'failed')"), (job,)))
            if row is None:
                continue
            facts.last_duration = row["duration"]
            row = _first(db.execute(query.format("= 'success'"), (job,)))
            if row is not None:
                facts.last_success = _moment(row["finished"] or row["started"])
            found.append(facts)
    return found


def _checked(row: Row, wanted: set[str], found: dict[str, datetime]) -> None:
    """Note the repositories the check run ``row`` checked ``ok`` (newer runs come first)."""
    ended = _moment(row["finished"] or row["started"])
    for step in json.loads(row["steps"] or "[]"):
        name = str(step.get("name", ""))
        repository = name.removeprefix("check ")
        if (
            name.startswith("check ")
            and step.get("status") == "ok"
            and repository in wanted
            and repository not in found
            and ended is not None
        ):
            found[repository] = ended


def _first(rows: list[Row]) -> Row | None:
    return rows[0] if rows else None


def _moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
