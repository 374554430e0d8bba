"""A drill's row in the run history: ``kind == "drill"`` (the compliance report's
contract, :mod:`keyark.compliance.evidence`), named after what was drilled.

The row's ``job`` is :data:`PREFIX` + the job's name (a drill of a job's newest
snapshot) or the repository's name in the config (``drill:offsite``); without a
config, the repository's location (secrets masked). The prefix keeps drills apart from
the job's own runs (a drill is not a backup: the job's age and last-run checks must
not count it). ``status`` is ``success`` or ``failed``; ``duration`` the measured
restore and verification time; ``snapshot_id`` the snapshot drilled.
"""

from __future__ import annotations

from keyark.compliance.evidence import DRILL_KIND
from keyark.config.document import KeyarkConfig
from keyark.context import OperationContext
from keyark.drill.result import DrillResult
from keyark.jobs.recorder import RunRecorder
from keyark.redaction import redact
from keyark.state.runs import RunRecord, RunStore

#: The history name prefix of drills.
PREFIX = "drill:"
#: The error code of a drill that found damage or a difference.
DRILL_FAILED = "drill"


def subject(ctx: OperationContext, config: KeyarkConfig | None, job: str | None) -> str:
    """The history name of a drill of ``job``, else of the context's repository."""
    if job is not None:
        return PREFIX + job
    if config is not None and ctx.config is not None:
        for name, entry in config.repositories.items():
            if entry.url == ctx.url:
                return PREFIX + name
    return PREFIX + redact(ctx.url)


def subject_name(job: str) -> str | None:
    """What a history name drilled (``drill:web`` -> ``web``); None for other rows."""
    return job[len(PREFIX) :] if job.startswith(PREFIX) else None


def start_record(store: RunStore | None, name: str, trigger: str) -> RunRecorder:
    """A started ``drill`` row (``store`` None: nothing is stored)."""
    recorder = RunRecorder(RunRecord(job=name, kind=DRILL_KIND, trigger=trigger), store)
    recorder.start()
    return recorder


def finish_record(recorder: RunRecorder, result: DrillResult) -> None:
    """End the row with the drill's outcome, its steps and the measured time."""
    record = recorder.record
    record.snapshot_id = result.snapshot_id
    restored = f"{result.files_restored} of {result.files_sampled} file(s) ({result.sample})"
    recorder.add(
        "restore",
        "ok" if not result.failed else "failed",
        result.duration_seconds,
        f"{restored}, {result.files_verified} verified, {result.bytes_restored} bytes",
    )
    live = result.live
    recorder.add(
        "live-compare",
        "ok" if not live.differed else "failed",
        detail=(
            f"{live.compared} compared, {live.matched} matched, {live.differed} differed, "
            f"{live.changed} changed since the snapshot, {live.skipped} skipped"
        ),
    )
    if not result.ok:
        recorder.fail(result.first_problem(), DRILL_FAILED)
    recorder.finish()
    record.duration = result.duration_seconds
    if recorder.store is not None and record.id is not None:
        recorder.store.update(record)


__all__ = ["DRILL_FAILED", "PREFIX", "finish_record", "start_record", "subject", "subject_name"]
