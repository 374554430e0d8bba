"""``keyark schedule``: each job's and task's schedule, last run and next time; and
``keyark schedule install``: a systemd unit for the daemon, or crontab lines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from keyark.cli.config_option import config_file_given, config_option
from keyark.cli.render import Output
from keyark.cli.settings import settings_of
from keyark.errors import UsageError

if TYPE_CHECKING:
    from datetime import tzinfo

    from keyark.daemon.planner import TaskStatus

COLUMNS = ("Task", "Kind", "Schedule", "Last run", "Status", "Next")


@click.group("schedule", invoke_without_command=True)
@config_option
@click.pass_context
def command(ctx: click.Context) -> None:
    """Show each job and maintenance task: its schedule, last run and next time."""
    if ctx.invoked_subcommand is not None:
        return
    from keyark import ops
    from keyark.daemon.config_file import find_config, load_config
    from keyark.daemon.planner import schedule_table

    out = Output(settings_of(ctx))
    config = load_config(find_config(config_file_given(ctx)))
    zone = config.scheduler.zone()
    table = schedule_table(config, ops.state_store(config), datetime.now(UTC))
    out.listing(
        [_document(status, zone) for status in table],
        COLUMNS,
        [_row(status, zone) for status in table],
        "the config has no jobs and no maintenance tasks",
    )


def _when(moment: datetime | None, zone: tzinfo) -> str:
    return "" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def _row(status: TaskStatus, zone: tzinfo) -> list[str]:
    last = status.last
    return [
        status.name,
        status.kind,
        status.schedule or "(by hand)",
        "" if last is None else _when(last.started or last.scheduled, zone),
        "" if last is None else last.status,
        _when(status.next, zone),
    ]


def _document(status: TaskStatus, zone: tzinfo) -> dict[str, Any]:
    """The task's ``to_dict()`` with the next time in the configured zone."""
    data = status.to_dict()
    data["next"] = None if status.next is None else status.next.astimezone(zone).isoformat()
    data["last_status"] = None if status.last is None else status.last.status
    return data


@command.command("install")
@click.option("--systemd", "systemd", is_flag=True, help="Write a systemd unit for the daemon.")
@click.option("--user", is_flag=True, help="With --systemd: a user unit, not a system one.")
@click.option("--cron", is_flag=True, help="Crontab lines running 'keyark run' per task.")
@click.option(
    "--install",
    "install_cron",
    is_flag=True,
    help="With --cron: put the lines in your crontab (replacing this config's earlier ones).",
)
@click.option("--print", "only_print", is_flag=True, help="Only print the unit; write nothing.")
@config_option
@click.pass_context
def install(
    ctx: click.Context,
    systemd: bool,
    user: bool,
    cron: bool,
    install_cron: bool,
    only_print: bool,
) -> None:
    """Let the operating system run the schedule: a systemd unit or crontab lines."""
    from keyark.daemon import install as installer
    from keyark.daemon.config_file import find_config, load_config

    if systemd == cron:
        raise UsageError("choose one of --systemd and --cron")
    if user and not systemd:
        raise UsageError("--user goes with --systemd")
    if install_cron and not cron:
        raise UsageError("--install goes with --cron (--systemd writes its unit unless --print)")
    out = Output(settings_of(ctx))
    path = find_config(config_file_given(ctx))
    config = load_config(path)
    keyark = installer.keyark_executable()
    if cron:
        block = installer.crontab_block(config, keyark, path)
        if install_cron:
            installer.install_crontab(block, path)
            out.print(f"crontab updated: {len(block) - 2} lines for {path}")
            return
        out.result("\n".join(block))
        return
    unit = installer.systemd_unit(keyark, path, user=user)
    if only_print:
        out.result(unit.rstrip("\n"))
        return
    target = installer.systemd_unit_path(user=user)
    try:
        changed = installer.write_unit(target, unit)
    except PermissionError:
        raise UsageError(
            f"cannot write {target}: permission denied (run as root, or use --user)"
        ) from None
    out.result(f"{'wrote' if changed else 'unchanged:'} {target}")
    out.print("enable it with:")
    for line in installer.systemctl_commands(user=user):
        out.print(f"  {line}")
