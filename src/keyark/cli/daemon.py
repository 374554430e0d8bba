"""``keyark daemon``: the scheduler, in the foreground (systemd) or in the background.

``keyark daemon`` serves until SIGTERM/SIGINT (SIGHUP reloads the config);
``keyark daemon start|stop|status`` manage a background one through its pid file (the
seed's ``backup_monitor.sh start|status|stop``). ``status`` exits 0 when the daemon
runs and 3 when it does not (as an LSB init script's status does).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from keyark.cli.config_option import config_file_given, config_option
from keyark.cli.options import timeout_option
from keyark.cli.settings import settings_of

if TYPE_CHECKING:
    from keyark.config.document import KeyarkConfig
#: ``daemon status``: not running (LSB).
EXIT_NOT_RUNNING = 3
#: ``daemon status`` shows the alert deliveries that failed this many hours back.
FAILURE_WINDOW_HOURS = 24


@click.group("daemon", invoke_without_command=True)
@config_option
@click.pass_context
def command(ctx: click.Context) -> None:
    """Run the scheduler in the foreground, or start, stop or show it in the background."""
    if ctx.invoked_subcommand is not None:
        return
    from keyark.daemon.config_file import find_config
    from keyark.daemon.service import serve

    settings = settings_of(ctx)
    ctx.exit(serve(find_config(config_file_given(ctx)), debug=settings.debug))


@command.command("start")
@config_option
@timeout_option(60.0, "How long to wait for the daemon to report ready.")
@click.pass_context
def start(ctx: click.Context, timeout: float) -> None:
    """Start the daemon in the background and print its pid once it is ready."""
    from keyark.daemon.config_file import find_config, load_config
    from keyark.daemon.install import keyark_executable
    from keyark.daemon.process import PidFile, StartError, start_background
    from keyark.daemon.service import DaemonPlaces

    settings = settings_of(ctx)
    path = find_config(config_file_given(ctx))
    places = DaemonPlaces.of(load_config(path))  # a bad config fails here, in the foreground
    argv = [keyark_executable(), "daemon", "--config", str(path)]
    if settings.debug:
        argv.append("--debug")
    try:
        pid = start_background(
            argv,
            pid_file=PidFile(places.pid_file),
            log_file=places.log_file,
            timeout=timeout,
            env=dict(os.environ),
        )
    except StartError as error:
        for line in error.log:
            sys.stderr.write(f"  | {line}\n")
        raise
    if settings.json:
        click.echo(
            _json({"pid": pid, "pid_file": str(places.pid_file), "log_file": str(places.log_file)})
        )
        return
    click.echo(f"keyark daemon started (pid {pid}); log: {places.log_file}")


@command.command("stop")
@config_option
@timeout_option(120.0, "How long to wait for running jobs to unwind.")
@click.pass_context
def stop(ctx: click.Context, timeout: float) -> None:
    """Stop the background daemon (SIGTERM: running jobs are cancelled and unwind)."""
    from keyark.daemon.process import PidFile
    from keyark.daemon.process import stop as stop_daemon
    from keyark.daemon.service import DaemonPlaces

    places = DaemonPlaces.of(_config(ctx))
    result = stop_daemon(PidFile(places.pid_file), timeout)
    if result.pid is None:
        click.echo("keyark daemon is not running")
    elif result.stopped:
        click.echo(f"keyark daemon stopped (pid {result.pid}, {result.seconds:.1f}s)")
    else:
        click.echo(
            f"keyark daemon (pid {result.pid}) is still running after {timeout:g}s: its "
            "jobs are unwinding; run 'keyark daemon status' to see when it is gone",
            err=True,
        )
        ctx.exit(1)


@command.command("status")
@config_option
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show whether the background daemon runs (exit 0) or not (exit 3)."""
    from keyark.daemon.process import PidFile
    from keyark.daemon.process import status as daemon_status
    from keyark.daemon.service import DaemonPlaces

    settings = settings_of(ctx)
    config = _config(ctx)
    places = DaemonPlaces.of(config)
    found = daemon_status(PidFile(places.pid_file))
    failures = _failed_deliveries(config)
    if settings.json:
        extra = {"log_file": str(places.log_file), "failed_deliveries": failures}
        click.echo(_json(found.to_dict() | extra))
    elif found.running:
        since = (
            ""
            if found.started is None
            else f", since {found.started.astimezone():%Y-%m-%d %H:%M:%S %Z}"
        )
        click.echo(f"keyark daemon is running (pid {found.pid}, up {_uptime(found.uptime)}{since})")
    else:
        stale = f" (stale pid file {found.pid_file}: its process is gone)" if found.stale else ""
        click.echo(f"keyark daemon is not running{stale}")
    if failures and not settings.json:
        click.echo(f"failed alert deliveries in the last {FAILURE_WINDOW_HOURS} h:")
        for channel in sorted({failure["channel"] for failure in failures}):
            mine = [failure for failure in failures if failure["channel"] == channel]
            last = mine[-1]
            click.echo(
                f"  {channel}: {len(mine)} failed attempt(s), last at {last['time']}: "
                f"{last.get('error') or 'no reason recorded'}"
            )
    if not found.running:
        ctx.exit(EXIT_NOT_RUNNING)


def _failed_deliveries(config: KeyarkConfig) -> list[dict[str, Any]]:
    """The alert deliveries that failed in the last :data:`FAILURE_WINDOW_HOURS` hours."""
    from datetime import UTC, datetime, timedelta

    from keyark import ops

    since = datetime.now(UTC) - timedelta(hours=FAILURE_WINDOW_HOURS)
    return [delivery.to_dict() for delivery in ops.failed_deliveries(config, since)]


def _config(ctx: click.Context) -> KeyarkConfig:
    """The config file, found as the daemon finds it (by its absolute path)."""
    from keyark.daemon.config_file import find_config, load_config

    return load_config(find_config(config_file_given(ctx)))


def _uptime(seconds: float | None) -> str:
    """``3d 4h``, ``2h 5m``, ``4m 10s``, ``12s``."""
    if seconds is None:
        return "?"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def _json(value: Any) -> str:
    import json

    return json.dumps(value)
