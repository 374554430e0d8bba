"""``keyark run``: run jobs of the config file now (each its whole pipeline), recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from keyark.cli.settings import settings_of
from keyark.errors import EXIT_ERROR, EXIT_PARTIAL, UsageError

if TYPE_CHECKING:
    from keyark import ops
    from keyark.cli.render import Output
    from keyark.config.document import KeyarkConfig


@click.command("run")
@click.argument("jobs", nargs=-1, metavar="[JOB]...")
@click.option("--all", "all_jobs", is_flag=True, help="Run every job of the config file.")
@click.option("-n", "--dry-run", is_flag=True, help="Say what each step would do; change nothing.")
@click.option(
    "--config",
    "config_file",
    metavar="FILE",
    help="The config file (default: KEYARK_CONFIG, ./keyark.yaml, "
    "~/.config/keyark/keyark.yaml, /etc/keyark/keyark.yaml).",
)
@click.pass_context
def command(
    ctx: click.Context,
    jobs: tuple[str, ...],
    all_jobs: bool,
    dry_run: bool,
    config_file: str | None,
) -> int:
    """Run JOBs of the config file now: hooks, backup, verify, forget, copies."""
    from keyark import ops
    from keyark.cli.render import Output
    from keyark.cli.verb import jobs_context

    out = Output(settings_of(ctx))
    config = load_config(config_file)
    tasks = chosen_tasks(config, jobs, all_jobs)
    context = jobs_context(out)
    runs: list[ops.JobRun] = []
    for task in tasks:
        options = ops.RunOptions(config, task, trigger="manual", dry_run=dry_run)
        result = ops.run(context, options)
        runs.append(result)
        if not out.json:
            show_run(out, result)
        if context.cancel.cancelled:
            break
    if out.json:
        out.emit_json([result.to_dict() for result in runs])
    context.cancel.check()  # a cancelled run exits as an interrupted command does
    codes = {result.exit_code for result in runs}
    return EXIT_ERROR if EXIT_ERROR in codes else EXIT_PARTIAL if EXIT_PARTIAL in codes else 0


def load_config(config_file: str | None) -> KeyarkConfig:
    """The config file ``--config`` names, or the first one found."""
    from keyark.config.loading import config_from_option

    return config_from_option(config_file)


def chosen_tasks(config: KeyarkConfig, jobs: tuple[str, ...], all_jobs: bool) -> list[str]:
    """The jobs (or maintenance tasks) to run, in the order given."""
    if all_jobs and jobs:
        raise UsageError("name jobs or use --all, not both")
    if all_jobs:
        if not config.jobs:
            raise UsageError("the config file defines no jobs")
        return list(config.jobs)
    if not jobs:
        known = ", ".join(config.jobs) or "none"
        raise UsageError(f"name the job(s) to run, or use --all (jobs: {known})")
    return list(dict.fromkeys(jobs))


def show_run(out: Output, result: ops.JobRun) -> None:
    """A run's steps with their timings, then its result line."""
    record = result.record
    out.print(f"job {record.job}:")
    width = max((len(step.name) for step in record.steps), default=0)
    for step in record.steps:
        timing = "" if result.dry_run else f" {step.seconds:7.2f}s"
        detail = f"  {step.detail}" if step.detail else ""
        out.print(f"  {step.name:<{width}}  {step.status:<8}{timing}{detail}")
    if result.dry_run:
        out.result(f"job {record.job}: dry run, nothing was changed")
        return
    line = f"job {record.job}: {record.status} in {record.duration or 0:.2f}s"
    if record.snapshot_id:
        line += f", snapshot {record.snapshot_id[:8]}"
    if record.error:
        line += f": {record.error}"
    out.result(line)
