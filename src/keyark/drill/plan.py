"""Which snapshot a drill restores and which of its files: a job's newest snapshot (its
host and paths, as its retention groups them), a named snapshot, or the newest; all its
files, or a random sample of them (at least one)."""

from __future__ import annotations

import math
import random
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from keyark.archiver.backup import snapshot_paths
from keyark.config.document import DrillTask, JobSpec, KeyarkConfig
from keyark.context import OperationContext
from keyark.errors import UsageError
from keyark.repo.snapshot import SnapshotFilter

T = TypeVar("T")


def parse_sample(text: str) -> float:
    """``10%`` (or ``10``) as a percentage in ``(0, 100]``; :class:`UsageError` otherwise."""
    cleaned = text.strip().removesuffix("%").strip()
    try:
        percent = float(cleaned)
    except ValueError:
        raise UsageError(
            f"invalid sample {text!r}: give a share of the files such as 10%"
        ) from None
    if not 0 < percent <= 100 or math.isnan(percent):
        raise UsageError(f"invalid sample {text!r}: the share must be above 0% and at most 100%")
    return percent


def sample_text(percent: float | None) -> str:
    """``full`` or ``30%`` (as a result and the run history show it)."""
    if percent is None or percent >= 100:
        return "full"
    return f"{percent:g}%"


def choose_sample(items: Sequence[T], percent: float | None, rng: random.Random) -> list[T]:
    """``percent`` of ``items`` (rounded up, at least one when there are any), at random,
    in their original order; all of them for ``None`` or 100%."""
    if percent is None or percent >= 100 or not items:
        return list(items)
    count = max(1, math.ceil(len(items) * percent / 100))
    chosen = set(rng.sample(range(len(items)), count))
    return [item for index, item in enumerate(items) if index in chosen]


def job_selection(config: KeyarkConfig, name: str) -> SnapshotFilter:
    """The snapshots of job ``name``: its host (default this machine's) and paths."""
    from keyark.jobs.deadline import RunDeadline
    from keyark.jobs.pipeline import JobPipeline
    from keyark.jobs.recorder import RunRecorder
    from keyark.state.runs import RunRecord

    job = job_spec(config, name)
    # the pipeline's own reading of the job's sources (nothing runs, nothing is recorded)
    unused = OperationContext()
    pipeline = JobPipeline(
        unused,
        config,
        name,
        job,
        RunRecorder(RunRecord(job=name, kind="drill", trigger="manual"), None),
        RunDeadline(unused.cancel, None),
    )
    paths = snapshot_paths(pipeline.backup_options())
    return SnapshotFilter(hosts=[job.host or socket.gethostname()], paths=paths)


def job_spec(config: KeyarkConfig, name: str) -> JobSpec:
    """The config's job ``name`` (a :class:`UsageError` names the known jobs)."""
    found = config.jobs.get(name)
    if found is None:
        known = ", ".join(sorted(config.jobs)) or "none"
        raise UsageError(f"no job named {name!r} in the config (jobs: {known})")
    return found


@dataclass(frozen=True)
class DrillTarget:
    """What one scheduled drill restores: a job's newest snapshot, or a repository's."""

    repository: str
    job: str | None = None


def drill_targets(config: KeyarkConfig, task: DrillTask) -> list[DrillTarget]:
    """The jobs named, then the repositories named; with neither, every job (every
    repository when the config has no jobs)."""
    for name in task.jobs:
        job_spec(config, name)
    found = [DrillTarget(config.jobs[name].repository, name) for name in task.jobs]
    for name in task.repositories:
        config.repository(name)  # an unknown name is a UsageError
        found.append(DrillTarget(name))
    if found:
        return found
    if config.jobs:
        return [DrillTarget(spec.repository, name) for name, spec in config.jobs.items()]
    return [DrillTarget(name) for name in config.repositories]


__all__ = [
    "DrillTarget",
    "choose_sample",
    "drill_targets",
    "job_selection",
    "job_spec",
    "parse_sample",
    "sample_text",
]
