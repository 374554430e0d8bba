"""``schedule install``: the systemd unit and the crontab lines keyark writes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from keyark.config.document import KeyarkConfig
from keyark.config.schedule import parse_schedule
from keyark.daemon import install
from keyark.errors import UsageError


def config(**schedules: str) -> KeyarkConfig:
    jobs = {
        name: {"repository": "main", "sources": ["/etc"], "schedule": text}
        for name, text in schedules.items()
    }
    return KeyarkConfig.model_validate(
        {
            "repositories": {"main": {"url": "/srv/keys", "password_file": "/etc/keyark/pw"}},
            "jobs": {**jobs, "manual": {"repository": "main", "sources": ["/etc"]}},
            "maintenance": {"check": {"schedule": "0 4 * * 0"}},
        }
    )


def test_systemd_unit_is_type_notify_with_absolute_paths_reload_and_restart() -> None:
    unit = install.systemd_unit(
        "/opt/keyark/bin/keyark", Path("/etc/keyark/keyark.yaml"), user=False
    )
    lines = unit.splitlines()
    assert "Type=notify" in lines
    assert "ExecStart=/opt/keyark/bin/keyark daemon --config /etc/keyark/keyark.yaml" in lines
    assert "ExecReload=/bin/kill -HUP $MAINPID" in lines
    assert "Restart=on-failure" in lines
    assert "WantedBy=multi-user.target" in lines
    user = install.systemd_unit("/k", Path("/c.yaml"), user=True)
    assert "WantedBy=default.target" in user.splitlines()


def test_systemd_unit_quotes_paths_with_spaces_and_escapes_specifiers() -> None:
    unit = install.systemd_unit("/opt/my apps/keyark", Path("/etc/50%/$HOME.yaml"), user=True)
    start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert start == 'ExecStart="/opt/my apps/keyark" daemon --config /etc/50%%/$$HOME.yaml'


def test_unit_paths_and_commands(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert install.systemd_unit_path(user=True) == tmp_path / "cfg/systemd/user/keyark.service"
    assert install.systemd_unit_path(user=False) == Path("/etc/systemd/system/keyark.service")
    assert "systemctl --user enable --now keyark.service" in install.systemctl_commands(user=True)
    assert install.systemctl_commands(user=False)[0] == "systemctl daemon-reload"


def test_write_unit_is_0644_and_reports_unchanged(tmp_path: Path) -> None:
    target = tmp_path / "systemd" / "user" / "keyark.service"
    assert install.write_unit(target, "[Unit]\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert not install.write_unit(target, "[Unit]\n")
    assert install.write_unit(target, "[Unit]\nDescription=x\n")
    assert target.read_text().endswith("Description=x\n")


@pytest.mark.parametrize(
    ("text", "cron"),
    [
        ("0 2 * * *", "0 2 * * *"),
        ("@daily", "0 0 * * *"),
        ("every 1m", "* * * * *"),
        ("every 15m", "*/15 * * * *"),
        ("every 120s", "*/2 * * * *"),
        ("every 1h", "0 * * * *"),
        ("every 6h", "0 */6 * * *"),
        ("every 1d", "0 0 * * *"),
        ("every 30s", None),
        ("every 7m", None),
        ("every 90m", None),
        ("every 5h", None),
        ("every 2d", None),
    ],
)
def test_cron_expression(text: str, cron: str | None) -> None:
    assert install.cron_expression(parse_schedule(text)) == cron


def test_crontab_block_runs_each_scheduled_task_with_the_config(tmp_path: Path) -> None:
    path = tmp_path / "my keys" / "keyark.yaml"
    block = install.crontab_block(config(tls="0 2 * * *", ssh="every 6h"), "/usr/bin/keyark", path)
    assert block[0] == f"# BEGIN keyark ({path})" and block[-1] == f"# END keyark ({path})"
    commands = [line for line in block if not line.startswith("#")]
    assert commands == [
        f"0 2 * * * /usr/bin/keyark run tls --config '{path}'",
        f"0 */6 * * * /usr/bin/keyark run ssh --config '{path}'",
        f"0 4 * * 0 /usr/bin/keyark run maintenance.check --config '{path}'",
    ]
    assert "# ssh: every 6h" in block  # the translation is shown
    assert not any("manual" in line for line in block)  # unscheduled jobs stay out


def test_crontab_escapes_percent_which_cron_reads_as_newline() -> None:
    block = install.crontab_block(config(a="@hourly"), "/usr/bin/keyark", Path("/etc/50%.yaml"))
    assert "0 * * * * /usr/bin/keyark run a --config /etc/50\\%.yaml" in block


def test_crontab_refuses_intervals_cron_cannot_express() -> None:
    with pytest.raises(UsageError) as caught:
        install.crontab_block(config(a="every 30s", b="every 7m", c="@daily"), "/k", Path("/c"))
    message = str(caught.value)
    assert "a ('every 30s')" in message and "b ('every 7m')" in message
    assert "c (" not in message and "\n" not in message


def test_merged_crontab_replaces_only_this_configs_block() -> None:
    path = Path("/etc/keyark/keyark.yaml")
    other = Path("/srv/other.yaml")
    existing = "\n".join(
        [
            "MAILTO=ops@example.org",
            "5 * * * * /usr/local/bin/rotate-logs",
            *install.block_markers(other)[:1],
            "0 1 * * * keyark run x --config /srv/other.yaml",
            install.block_markers(other)[1],
            install.block_markers(path)[0],
            "0 9 * * * /old/keyark run old --config /etc/keyark/keyark.yaml",
            install.block_markers(path)[1],
            "",
        ]
    )
    block = [install.block_markers(path)[0], "0 2 * * * /k run tls", install.block_markers(path)[1]]
    merged = install.merged_crontab(existing, block, path)
    assert "/old/keyark" not in merged
    assert merged.count("0 2 * * * /k run tls") == 1
    for kept in ("MAILTO=ops@example.org", "rotate-logs", "keyark run x --config /srv/other.yaml"):
        assert kept in merged
    assert install.merged_crontab(merged, block, path) == merged  # idempotent
    assert install.merged_crontab("", block, path) == "\n".join(block) + "\n"


def test_install_crontab_keeps_the_users_other_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in ``crontab`` (the real one needs cron's spool): -l prints, - stores."""
    table = tmp_path / "table"
    table.write_text("MAILTO=me\n")
    fake = tmp_path / "bin" / "crontab"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\nif [ "$1" = "-l" ]; then cat {table}; else cat > {table}; fi\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    path = Path("/etc/keyark/keyark.yaml")
    block = install.crontab_block(config(tls="@daily"), "/usr/bin/keyark", path)
    install.install_crontab(block, path)
    install.install_crontab(block, path)
    text = table.read_text()
    assert text.startswith("MAILTO=me\n")
    assert text.count("/usr/bin/keyark run tls") == 1


def test_keyark_executable_is_absolute() -> None:
    found = install.keyark_executable()
    assert os.path.isabs(found) and os.access(found, os.X_OK)
    assert os.path.basename(found).startswith("keyark")
