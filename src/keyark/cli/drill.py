"""``keyark drill``: a restore drill of a job's newest snapshot (or of SNAPSHOT)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from keyark.cli.config_option import config_option, found_config
from keyark.cli.verb import jobs_context, start
from keyark.errors import DrillFailedError, Hint, UsageError

if TYPE_CHECKING:
    from keyark import ops
    from keyark.cli.render import Output


@click.command("drill")
@click.argument("what", required=False, metavar="[JOB|SNAPSHOT]")
@click.option("--sample", metavar="N%", help="Restore a random N% of the files (at least one).")
@click.option("--full", is_flag=True, help="Restore every file (the default).")
@click.option(
    "--target",
    metavar="DIR",
    help="Make the scratch directory in DIR (default: the system's temporary directory).",
)
@config_option
@click.pass_context
def command(
    ctx: click.Context, what: str | None, sample: str | None, full: bool, target: str | None
) -> None:
    """Restore a snapshot into a scratch directory, verify it and time it.

    JOB (of the config file) drills the job's newest snapshot in its repository;
    SNAPSHOT (an id, id prefix or 'latest'; default 'latest') one of --repo. Every
    restored byte is verified against the snapshot; files whose live source is unchanged
    since the snapshot (size, mtime, ctime) are compared with it. The drill is recorded
    in the run history. Exits 0 when everything verified, 1 naming the first damaged or
    differing file.
    """
    from keyark import ops

    if sample is not None and full:
        raise UsageError("--sample and --full cannot be used together")
    percent = None if sample is None else ops.parse_sample(sample)
    config = found_config(ctx)
    job = what if config is not None and what in config.jobs else None
    out, context = _start(ctx, job is not None)
    options = ops.DrillOptions(
        snapshot=None if job is not None else what,
        job=job,
        config=config,
        sample=percent,
        target=target,
    )
    with out.progress("drill", unit="files"):
        result = ops.drill(context, options)
    out.show(result, show)
    if not result.ok:
        raise DrillFailedError(
            f"drill of snapshot {result.snapshot_id[:8]} failed: {result.first_problem()}",
            hint=Hint.CHECK,
        )


def _start(ctx: click.Context, for_job: bool) -> tuple[Output, ops.OperationContext]:
    """The output and context; a job's drill needs no --repo (the job names it)."""
    from keyark.cli.render import Output
    from keyark.cli.settings import settings_of

    if not for_job:
        return start(ctx)
    out = Output(settings_of(ctx))
    return out, jobs_context(out)


def show(out: Output, result: ops.DrillResult) -> None:
    """The drill's lines: what was restored and verified, the live comparison, the time."""
    from keyark.cli.render import human_size
    from keyark.cli.wording import counted

    live = result.live
    share = "every file" if result.sample == "full" else f"a {result.sample} sample"
    out.print(
        f"snapshot {result.snapshot_id[:8]} ({result.subject}): restored "
        f"{result.files_restored} of {counted(result.files_sampled, 'file')} "
        f"({share} of {result.files_total}, {human_size(result.bytes_restored)}); "
        f"{result.files_verified} verified against the snapshot"
    )
    out.print(
        f"live source: {live.compared} compared, {live.matched} matched, "
        f"{live.differed} differed, {live.changed} changed since the snapshot, "
        f"{live.skipped} skipped"
    )
    for path in live.changed_paths:
        out.print(f"changed since the snapshot (not compared): {path}")
    for problem in result.problems:
        out.print(f"error: {problem}")
    for path in live.differences:
        out.print(f"error: {path}: differs from its live source, unchanged since the snapshot")
    estimate = ""
    if result.sample != "full":
        estimate = f" (the whole snapshot: about {result.estimated_full_seconds:.1f}s)"
    outcome = "ok" if result.ok else "FAILED"
    out.result(f"drill {outcome} in {result.duration_seconds:.2f}s{estimate}")
