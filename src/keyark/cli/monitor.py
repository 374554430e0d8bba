"""``keyark monitor``: health checks (``check``), alert history (``alerts``) and a test
alert to the notification channels (``test-notify``).

``monitor check`` exits as a Nagios plugin: 0 all OK, 1 WARNING, 2 CRITICAL, 3 a
check could not run (CRITICAL outranks it), so it drops into Nagios, Icinga or Zabbix.
"""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.config_option import config_option, load_config
from keyark.cli.options import timeout_option
from keyark.cli.render import Output, local_time
from keyark.cli.verb import start_without_repository

CHECK_COLUMNS = ("Check", "Subject", "Level", "Value", "Threshold", "Message")
ALERT_COLUMNS = ("ID", "Time", "Level", "Kind", "Title", "Message")


@click.group("monitor")
@config_option
def command() -> None:
    """Run health checks, list alerts, or send a test alert."""


@command.command("check")
@click.option(
    "--check",
    "checks",
    multiple=True,
    metavar="NAME",
    help="Run only this check (repeatable): backup_age, last_run, key_age, disk, backend, "
    "locks, integrity, certificates, weak_keys, system.",
)
@click.option(
    "--no-alerts",
    is_flag=True,
    help="Only report: record no level change and send no alert.",
)
@config_option
@click.pass_context
def check(ctx: click.Context, checks: tuple[str, ...], no_alerts: bool) -> None:
    """Run the health checks once; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."""
    out, context = start_without_repository(ctx)
    config = load_config(ctx)
    options = ops.MonitorCheckOptions(config, list(checks), record=not no_alerts)
    report = ops.monitor_check(context, options)
    out.show(report, _health)
    ctx.exit(report.exit_code)


def _health(out: Output, report: ops.MonitorReport) -> None:
    """The table of checks, the overall status and the alerts raised."""
    rows = [
        [
            result.check,
            result.subject,
            result.level.label.upper(),
            "" if result.value is None else str(result.value),
            result.threshold or "",
            result.message,
        ]
        for result in report.results
    ]
    out.table(CHECK_COLUMNS, rows)
    out.print(f"status: {report.status.upper()}")
    for alert in report.alerts:
        out.print(f"alert raised: {alert.title}")


@command.command("alerts")
@click.option(
    "--since",
    metavar="DURATION|DATE",
    default="7d",
    show_default=True,
    help="Only alerts since then: a duration back from now (2h, 7d) or a date.",
)
@click.option(
    "--level",
    type=click.Choice(["info", "warning", "critical", "unknown"]),
    help="Only alerts at least this bad (a resolution counts at the level it ended).",
)
@click.option("--limit", type=click.IntRange(min=1), help="At most this many (the newest).")
@config_option
@click.pass_context
def alerts(ctx: click.Context, since: str, level: str | None, limit: int | None) -> None:
    """List the alert history, oldest first."""
    from keyark.cli.history import parse_since

    out, context = start_without_repository(ctx)
    config = load_config(ctx)
    options = ops.MonitorAlertsOptions(
        config,
        since=parse_since(since),
        level=None if level is None else ops.Level.parse(level),
        limit=limit,
    )
    history = ops.monitor_alerts(context, options)
    out.listing_of(history.alerts, ALERT_COLUMNS, _alert_row, "no alerts")


def _alert_row(alert: ops.Alert) -> list[str]:
    return [
        str(alert.id or ""),
        local_time(alert.time),
        alert.level.label.upper(),
        alert.kind,
        alert.title,
        alert.message,
    ]


@command.command("test-notify")
@click.argument("channel", required=False)
@timeout_option(60.0, "How long to wait for the deliveries (retries included).")
@config_option
@click.pass_context
def test_notify(ctx: click.Context, channel: str | None, timeout: float) -> None:
    """Send a test alert to CHANNEL (default: every enabled channel); exit 1 if one fails."""
    out, context = start_without_repository(ctx)
    config = load_config(ctx)
    options = ops.TestNotifyOptions(config, channel, timeout)
    result = ops.monitor_test_notify(context, options)
    out.show(result, _deliveries)
    ctx.exit(0 if result.ok else 1)


def _deliveries(out: Output, result: ops.TestNotifyResult) -> None:
    """One line per channel: delivered, or why not."""
    for delivery in result.to_dict()["deliveries"]:
        error = f": {delivery['error']}" if delivery.get("error") else ""
        out.print(f"{delivery['channel']}: {delivery['status']}{error}")
