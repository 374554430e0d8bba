"""``keyark history``: every run of the config's jobs and tasks, from the state database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click

from keyark.cli.config_option import config_option, found_config
from keyark.cli.render import Output, optional_time
from keyark.cli.settings import settings_of
from keyark.errors import UsageError

if TYPE_CHECKING:
    from keyark.config.document import KeyarkConfig
    from keyark.ops import RunRecord, RunStore

COLUMNS = (
    "ID",
    "Job",
    "Trigger",
    "Status",
    "Scheduled",
    "Started",
    "Duration",
    "Snapshot",
    "Error",
)


@click.command("history")
@click.argument("job", required=False)
@click.option(
    "--since",
    metavar="DURATION|DATE",
    help="Only runs since then: a duration back from now (2h, 7d) or a date (2024-05-01).",
)
@click.option(
    "--status",
    type=click.Choice(["running", "success", "partial", "failed", "skipped", "missed"]),
    help="Only runs that ended so.",
)
@config_option
@click.pass_context
def command(
    ctx: click.Context,
    job: str | None,
    since: str | None,
    status: str | None,
) -> None:
    """List the runs of jobs and maintenance tasks (all, or JOB's), oldest first."""
    out = Output(settings_of(ctx))
    store = _store(found_config(ctx))
    runs = store.runs(job, since=None if since is None else parse_since(since), status=status)
    empty = "no runs recorded" + (f" for {job!r}" if job else "")
    out.listing_of(runs, COLUMNS, _row, empty)


def _store(config: KeyarkConfig | None) -> RunStore:
    """The history of the config's state directory; without a config file, the default one."""
    from keyark import ops

    if config is None:
        return ops.RunStore(ops.default_state_dir())
    return ops.state_store(config)


def parse_since(text: str) -> datetime:
    """``2h``, ``7d``, ``1h30m`` back from now, or a date/time (local unless it has a zone)."""
    from keyark import ops

    try:
        seconds = ops.parse_seconds(text, "since")
    except UsageError:
        pass
    else:
        return datetime.now(UTC) - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"since {text!r}: give a duration (2h, 7d) or a date (2024-05-01 or 2024-05-01T14:00)"
        ) from None
    return (moment if moment.tzinfo else moment.astimezone()).astimezone(UTC)


def _row(record: RunRecord) -> list[str]:
    return [
        "" if record.id is None else str(record.id),
        record.job,
        record.trigger,
        record.status,
        optional_time(record.scheduled),
        optional_time(record.started),
        "" if record.duration is None else _seconds(record.duration),
        (record.snapshot_id or "")[:8],
        record.error or "",
    ]


def _seconds(value: float) -> str:
    """``0.42s``, ``12.3s``, ``4m05s``, ``1h02m``."""
    if value < 10:
        return f"{value:.2f}s"
    if value < 60:
        return f"{value:.1f}s"
    whole = int(value)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole // 60 % 60:02d}m"
