"""A job's pipeline: before hooks, backup, verify, forget (and prune), copies, hooks.

Every step is recorded as it ends (:class:`~keyark.jobs.recorder.RunRecorder`). A
failing ``before`` hook skips the rest and fails the run; a failing step fails the
run and skips the steps after it; then ``on_error`` hooks run (``after`` hooks on
success or partial), then ``finally`` hooks. Repositories are reached through the
catalogue (:mod:`keyark.ops`), one context per repository, each carrying the run's
cancel token and events. A dry run records what each step would do and changes
nothing (no hook, no command, no repository is touched).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from datetime import timedelta

from keyark import ops
from keyark.archiver.backup import BackupOptions, snapshot_paths
from keyark.archiver.commands import CommandSourceSpec
from keyark.config.document import JobSpec, KeyarkConfig, Retention
from keyark.config.verify import parse_verify
from keyark.context import OperationContext
from keyark.errors import KeyarkError
from keyark.jobs.deadline import RunDeadline
from keyark.jobs.hooks import HookEnvironment, HookFailure, run_hooks
from keyark.jobs.recorder import RunRecorder, StepFailedError
from keyark.jobs.repositories import RepositoryContexts
from keyark.maintenance.forget import ForgetOptions
from keyark.maintenance.retention import RetentionPolicy
from keyark.repo.snapshot import SnapshotFilter
from keyark.units import parse_calendar_duration

#: The error code of a run a hook failed.
HOOK_FAILED = "hook"
#: The error code of a run whose read-back found damage.
VERIFY_FAILED = "verify"
#: The most a closing hook may take once the caller cancelled the run (a daemon
#: stopping must not wait a whole hook timeout per hook).
CANCELLED_HOOK_LIMIT = timedelta(seconds=10)


@dataclass
class JobPipeline:
    """Runs one job's steps into its recorder."""

    ctx: OperationContext
    config: KeyarkConfig
    name: str
    job: JobSpec
    recorder: RunRecorder
    deadline: RunDeadline
    dry_run: bool = False
    #: Some sources could not be read (the run ends ``partial`` unless it fails).
    partial: bool = False
    repositories: RepositoryContexts = field(init=False)

    def __post_init__(self) -> None:
        self.repositories = RepositoryContexts(self.ctx, self.config)

    @property
    def record_failed(self) -> bool:
        return self.recorder.record.status == "failed"

    def run(self) -> None:
        """Every step, then the closing hooks; the record's status says how it went."""
        try:
            self._steps()
        except StepFailedError:
            pass
        except KeyarkError as error:
            self.recorder.fail(*self.deadline.failure(error))
        if self.dry_run:
            self._describe_hooks()
            return
        if self.record_failed:
            self._hooks("on_error", self.job.hooks.on_error, "failed")
        else:
            self._hooks("after", self.job.hooks.after, self._status())
        self._hooks("finally", self.job.hooks.finally_, self._status())
        if not self.record_failed:
            self.recorder.record.status = self._status()

    def _status(self) -> str:
        if self.record_failed:
            return "failed"
        return "partial" if self.partial else "success"

    # ------------------------------------------------------------------ steps
    def _steps(self) -> None:
        if self.dry_run:
            self._describe()
            return
        if self._hooks("before", self.job.hooks.before, "running"):
            self.recorder.add("backup", "skipped", detail="a before hook failed")
            return
        snapshot_id = self._backup()
        self._verify(snapshot_id)
        if self.job.retention is not None:
            self._forget(self.job.retention)
            if self.job.prune == "after-forget":
                with self.recorder.step("prune") as step:
                    summary = ops.prune(self._repo(), ops.PruneOptions())
                    step.detail = f"{summary.packs_deleted} pack(s) deleted"
        for target in self.job.copy_to:
            with self.recorder.step(f"copy {target}") as step:
                options = ops.CopyOptions(
                    source=self.config.repository(self.job.repository), snapshots=[snapshot_id]
                )
                copied = ops.copy(self.repositories.context(target), options)
                step.detail = f"{len(copied.copied)} snapshot(s) copied to {target}"

    def _repo(self) -> OperationContext:
        return self.repositories.context(self.job.repository)

    def backup_options(self) -> BackupOptions:
        """The job as backup options (sources, command outputs, filters, tags)."""
        job = self.job
        return BackupOptions(
            paths=list(job.sources),
            tags=list(job.tags),
            host=job.host,
            excludes=list(job.exclude),
            iexcludes=list(job.iexclude),
            exclude_files=list(job.exclude_file),
            exclude_caches=job.exclude_caches,
            one_file_system=job.one_file_system,
            inventory=job.inventory,
            compression=job.compression,
            command_sources=[
                CommandSourceSpec(
                    item.path,
                    item.run,
                    None if item.timeout is None else item.timeout.total_seconds(),
                )
                for item in job.commands
            ],
        )

    def _backup(self) -> str:
        record = self.recorder.record
        with self.recorder.step("backup") as step:
            summary = ops.backup(self._repo(), self.backup_options())
            record.snapshot_id = summary.snapshot_id
            record.files_new = summary.files_new
            record.bytes_added = summary.bytes_added
            step.detail = (
                f"snapshot {summary.snapshot_id[:8]}: {summary.files_new} new files,"
                f" {summary.bytes_added} bytes added"
            )
            if not summary.complete:
                self.partial = True
                step.status = "partial"
                step.detail += f"; {len(summary.errors)} source(s) could not be read"
        return summary.snapshot_id

    def _verify(self, snapshot_id: str) -> None:
        spec = parse_verify(self.job.verify)
        if not spec.enabled:
            return
        with self.recorder.step("verify") as step:
            options = ops.VerifyOptions(snapshot=snapshot_id, percent=spec.percent)
            result = ops.verify(self._repo(), options)
            step.detail = result.describe()
            if result.problems:
                step.status = "failed"
                self.recorder.fail(f"verify: {result.problems[0]}", VERIFY_FAILED)
        if self.record_failed:
            raise StepFailedError

    def forget_options(self, retention: Retention) -> ForgetOptions:
        """The job's retention over its own snapshots (this host, these paths)."""
        host = self.job.host or socket.gethostname()
        paths = snapshot_paths(self.backup_options())
        return ForgetOptions(
            policy=retention_policy(retention),
            selection=SnapshotFilter(hosts=[host], paths=paths),
            zone=self.config.scheduler.zone(),
        )

    def _forget(self, retention: Retention) -> None:
        with self.recorder.step("forget") as step:
            result = ops.forget(self._repo(), self.forget_options(retention))
            kept = sum(len(group.kept) for group in result.groups)
            step.detail = f"{len(result.removed)} snapshot(s) forgotten, {kept} kept"

    # ------------------------------------------------------------------ hooks
    def _hooks(self, name: str, commands: list[str], status: str) -> HookFailure | None:
        """Run one kind of hooks as a step; a failure fails the run (and is returned)."""
        if not commands:
            return None
        env = HookEnvironment(self.name, status, self.recorder.record.snapshot_id)
        limit = self.job.hooks.timeout
        if self.deadline.token.cancelled and not self.deadline.timed_out:
            limit = min(limit, CANCELLED_HOOK_LIMIT)
        failure: HookFailure | None = None
        with self.recorder.step(f"{name} hooks") as step:
            failure = run_hooks(commands, env, limit, keep_going=name != "before")
            step.detail = f"{len(commands)} hook(s)"
            if failure is not None:
                step.status = "failed"
                step.detail = str(failure)
                self.recorder.fail(str(failure), HOOK_FAILED)
        return failure

    # --------------------------------------------------------------- dry run
    def _describe(self) -> None:
        job, add = self.job, self.recorder.add
        if job.hooks.before:
            add("before hooks", "dry-run", detail=f"would run {len(job.hooks.before)} hook(s)")
        what = [*job.sources, *(f"output of {c.run!r} as {c.path}" for c in job.commands)]
        add("backup", "dry-run", detail=f"would back up {', '.join(what)} to {job.repository}")
        spec = parse_verify(job.verify)
        if spec.enabled:
            add("verify", "dry-run", detail=f"would read back {spec.percent:g}% of the snapshot")
        if job.retention is not None:
            policy = retention_policy(job.retention).describe()
            add("forget", "dry-run", detail=f"would {policy} in {job.repository}")
            if job.prune == "after-forget":
                add("prune", "dry-run", detail=f"would prune {job.repository}")
        for target in job.copy_to:
            add(f"copy {target}", "dry-run", detail=f"would copy the new snapshot to {target}")

    def _describe_hooks(self) -> None:
        hooks = self.job.hooks
        for name, commands in (
            ("after", hooks.after),
            ("on_error", hooks.on_error),
            ("finally", hooks.finally_),
        ):
            if commands:
                detail = f"would run {len(commands)} hook(s)"
                self.recorder.add(f"{name} hooks", "dry-run", detail=detail)


def retention_policy(retention: Retention) -> RetentionPolicy:
    """A job's ``retention:`` as forget's policy (unset counts keep nothing)."""
    within = retention.keep_within
    return RetentionPolicy(
        last=retention.keep_last or 0,
        hourly=retention.keep_hourly or 0,
        daily=retention.keep_daily or 0,
        weekly=retention.keep_weekly or 0,
        monthly=retention.keep_monthly or 0,
        yearly=retention.keep_yearly or 0,
        within=None if within is None else parse_calendar_duration(within),
        tags=tuple(retention.keep_tags),
        max_snapshots=retention.max_snapshots,
    )
