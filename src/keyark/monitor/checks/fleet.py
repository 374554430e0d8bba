"""``backup_age`` over a fleet: the jobs of an enrolled host count from its enrolment.

An enrolled agent's runs reach the server's history as its reports, so a host that
stops reporting ages like any job (:mod:`keyark.monitor.checks.jobs`). A host that
enrolled and *never* reported has no run at all, which that check reads as "no run yet";
here the job of an enrolled, unrevoked host is first seen when the host enrolled (as
when the scheduler first sees a job), so its missed scheduled runs (or the
``backup_age_*_hours`` thresholds) count from then. A job without a schedule and without
those thresholds has no cadence to miss and stays OK.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from keyark.monitor.checks import jobs
from keyark.monitor.environment import CheckEnvironment
from keyark.monitor.model import CheckResult

if TYPE_CHECKING:
    from keyark.state.runs import RunStore


class _EnrolledRuns:
    """A run history whose jobs of enrolled hosts were first seen at the enrolment."""

    def __init__(self, runs: RunStore, starts: dict[str, datetime]) -> None:
        self._runs = runs
        self._starts = starts

    def cursor(self, task: str) -> datetime | None:
        """The scheduler's cursor of ``task``, or the enrolment of its host if earlier."""
        own = self._runs.cursor(task)
        start = self._starts.get(task)
        if start is None or (own is not None and own.astimezone(UTC) <= start):
            return own
        return start

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runs, name)


def enrolment_starts(env: CheckEnvironment) -> dict[str, datetime]:
    """Job name -> when its host enrolled, for each job of an enrolled, unrevoked host."""
    from keyark.fleet.registry import FleetRegistry

    if not any(job.host for job in env.config.jobs.values()):
        return {}  # no job names a host: nothing can be an enrolled host's
    database = env.runs.database if env.config.server.database else None
    enrolled: dict[str, datetime] = {}
    for agent in FleetRegistry(env.state_dir, database=database).agents():
        if agent.revoked is not None:
            continue
        try:
            moment = datetime.fromisoformat(agent.enrolled)
        except ValueError:
            continue
        enrolled[agent.host] = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return {
        name: enrolled[job.host]
        for name, job in env.config.jobs.items()
        if job.host is not None and job.host in enrolled
    }


def backup_age(env: CheckEnvironment) -> list[CheckResult]:
    """:func:`keyark.monitor.checks.jobs.backup_age`, a job of an enrolled host counted
    from its enrolment when it has no run."""
    starts = enrolment_starts(env)
    if not starts:
        return jobs.backup_age(env)
    runs = cast("RunStore", _EnrolledRuns(env.runs, starts))
    return jobs.backup_age(replace(env, runs=runs))


__all__ = ["backup_age", "enrolment_starts"]
