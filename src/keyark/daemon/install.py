"""Hand the schedule to the operating system: a systemd unit for the daemon, or crontab lines.

- :func:`systemd_unit`: a ``Type=notify`` service running ``keyark daemon --config
  FILE`` (absolute paths), reloaded with ``SIGHUP``, restarted on failure; a user unit
  (``~/.config/systemd/user``) or a system unit (``/etc/systemd/system``).
- :func:`crontab_block`: one line per scheduled job or task, each running
  ``keyark run TASK --config FILE``, between marker lines so a later install replaces
  the block (:func:`merged_crontab`) and leaves the rest of the crontab alone. Cron
  counts in minutes: an interval it cannot express (``every 30s``, ``every 7h``) is
  refused with a line naming the task.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from keyark.errors import UsageError
from keyark.redaction import child_environment

if TYPE_CHECKING:
    from keyark.config.document import KeyarkConfig
    from keyark.config.schedule import Schedule

#: The unit's file name.
UNIT_NAME = "keyark.service"


def keyark_executable() -> str:
    """The absolute path of the ``keyark`` command running now (else the one on PATH)."""
    running = sys.argv[0] if sys.argv else ""
    if os.path.basename(running).startswith("keyark") and os.access(running, os.X_OK):
        return os.path.abspath(running)
    found = shutil.which("keyark")
    if found is None:
        raise UsageError("the keyark command is not on PATH; install keyark first")
    return os.path.abspath(found)


def _unit_word(text: str) -> str:
    """``text`` as one word of a unit's command line (quoted when needed; % and $ escaped)."""
    escaped = text.replace("%", "%%").replace("$", "$$")
    if any(c.isspace() or c in "\"'\\;" for c in escaped):
        return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return escaped


def systemd_unit(keyark: str, config_path: Path, *, user: bool) -> str:
    """The unit file text of the daemon of ``config_path`` run by ``keyark``."""
    command = " ".join(_unit_word(w) for w in (keyark, "daemon", "--config", str(config_path)))
    target = "default.target" if user else "multi-user.target"
    return f"""\
# Written by keyark: the backup scheduler of {config_path}
[Unit]
Description=keyark backup scheduler
Wants=network-online.target
After=network-online.target

[Service]
Type=notify
NotifyAccess=main
ExecStart={command}
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=30s
# running jobs are cancelled on stop and unwind before the daemon exits
TimeoutStopSec=5min
KillMode=mixed
UMask=0077

[Install]
WantedBy={target}
"""


def systemd_unit_path(*, user: bool) -> Path:
    """Where the unit goes: ``$XDG_CONFIG_HOME/systemd/user`` or ``/etc/systemd/system``."""
    if not user:
        return Path("/etc/systemd/system") / UNIT_NAME
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "systemd" / "user" / UNIT_NAME


def systemctl_commands(*, user: bool) -> list[str]:
    """The commands that load and enable the unit."""
    systemctl = "systemctl --user" if user else "systemctl"
    commands = [f"{systemctl} daemon-reload", f"{systemctl} enable --now {UNIT_NAME}"]
    if user:
        commands.append("loginctl enable-linger  # keep it running while you are logged out")
    return commands


def write_unit(path: Path, text: str) -> bool:
    """Write the unit (0644: systemd reads it; it holds no secret). False if unchanged."""
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)
    return True


# ------------------------------------------------------------------------ cron
def cron_expression(schedule: Schedule) -> str | None:
    """The five-field cron form of ``schedule``, or None when cron cannot express it."""
    if schedule.cron is not None:
        return schedule.cron
    assert schedule.interval is not None
    seconds = int(schedule.interval.total_seconds())
    if seconds % 60 or schedule.interval != timedelta(seconds=seconds):
        return None
    minutes = seconds // 60
    if minutes < 60 and 60 % minutes == 0:
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    if minutes % 60:
        return None
    hours = minutes // 60
    if hours < 24 and 24 % hours == 0:
        return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
    return "0 0 * * *" if hours == 24 else None


@dataclass(frozen=True)
class ScheduledTask:
    """A job or maintenance task with a schedule."""

    name: str
    schedule: Schedule


def scheduled_tasks(config: KeyarkConfig) -> list[ScheduledTask]:
    """Every job and maintenance task of ``config`` that has a schedule."""
    found = [ScheduledTask(name, job.schedule) for name, job in config.jobs.items() if job.schedule]
    maintenance = config.maintenance
    for name, task in (
        ("check", maintenance.check),
        ("prune", maintenance.prune),
        ("rotate", maintenance.rotate),
        ("drill", maintenance.drill),
    ):
        if task is not None and task.schedule is not None:
            found.append(ScheduledTask(f"maintenance.{name}", task.schedule))
    return found


def _cron_word(text: str) -> str:
    """A shell word of a crontab command (``%`` means newline to cron: escaped)."""
    return shlex.quote(text).replace("%", "\\%")


def block_markers(config_path: Path) -> tuple[str, str]:
    """The lines around the crontab block of ``config_path``."""
    return f"# BEGIN keyark ({config_path})", f"# END keyark ({config_path})"


def crontab_block(config: KeyarkConfig, keyark: str, config_path: Path) -> list[str]:
    """The crontab lines of every scheduled task, between marker lines.

    Raises :class:`UsageError` naming each task whose interval cron cannot express.
    """
    tasks = scheduled_tasks(config)
    refused = [t for t in tasks if cron_expression(t.schedule) is None]
    if refused:
        named = ", ".join(f"{t.name} ({t.schedule.text!r})" for t in refused)
        raise UsageError(
            f"cron cannot run {named}: it counts in whole minutes, hours dividing a day or "
            "daily; use a cron schedule for these tasks or run the scheduler daemon"
        )
    begin, end = block_markers(config_path)
    lines = [begin, "# times are in this system's time zone (cron's)"]
    zone = config.scheduler.timezone
    if zone:
        lines.append(f"# note: the config's scheduler.timezone {zone} does not apply to cron")
    for task in tasks:
        expression = cron_expression(task.schedule)
        words = [keyark, "run", task.name, "--config", str(config_path)]
        if expression != task.schedule.text:
            lines.append(f"# {task.name}: {task.schedule.text}")
        lines.append(f"{expression} {' '.join(_cron_word(w) for w in words)}")
    if not tasks:
        lines.append("# no job or task of this config has a schedule")
    lines.append(end)
    return lines


def merged_crontab(existing: str, block: list[str], config_path: Path) -> str:
    """``existing`` with the block of ``config_path`` replaced by ``block`` (or appended)."""
    begin, end = block_markers(config_path)
    kept: list[str] = []
    inside = False
    for line in existing.splitlines():
        if line.strip() == begin:
            inside = True
        elif inside and line.strip() == end:
            inside = False
        elif not inside:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join([*kept, *([""] if kept else []), *block]) + "\n"


def _crontab(*args: str, text: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["crontab", *args],
            input=text,
            capture_output=True,
            text=True,
            env=child_environment(),
            check=False,
        )
    except FileNotFoundError:
        raise UsageError("the crontab command is not installed") from None


def read_crontab() -> str:
    """The user's crontab (empty when there is none)."""
    found = _crontab("-l")
    return found.stdout if found.returncode == 0 else ""


def install_crontab(block: list[str], config_path: Path) -> None:
    """Replace this config's block in the user's crontab (``crontab -``)."""
    done = _crontab("-", text=merged_crontab(read_crontab(), block, config_path))
    if done.returncode != 0:
        raise UsageError(f"crontab refused the new table: {done.stderr.strip()}")
