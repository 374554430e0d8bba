"""A host that enrolled and never reported raises ``backup_age`` centrally (issue 18 §1):
``keyark monitor check --json`` on the server's config, the installed ``keyark`` against a
real uvicorn server over TLS."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.conftest import PASSWORD, keyark_binary
from tests.e2e.fleet_tls import self_signed, tls_server
from tests.server_fixtures import server_config, settings_for

SILENT, NEVER, REVOKED = "silent-01", "never-01", "gone-01"


def _keyark(
    root: Path, *args: str, state: str = "state", **more: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYARK_")}
    env.update(
        KEYARK_TEST_FAST_KDF="1",
        KEYARK_STATE_DIR=str(root / state),
        KEYARK_CACHE_DIR=str(root / f"{state}-cache"),
        **more,
    )
    return subprocess.run(
        [keyark_binary(), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _enroll(root: Path, config: Path, url: str, host: str) -> None:
    issued = _keyark(
        root, "server", "agent", "enroll-token", "--host", host, "--config", str(config), "--json"
    )
    assert issued.returncode == 0, issued.stderr
    token = root / f"token-{host}"
    token.write_text(json.loads(issued.stdout)["token"])
    token.chmod(0o600)
    done = _keyark(
        root, "agent", "enroll", "--server", url, "--token-file", str(token),
        "--dir", str(root / host / "agent"), state=host,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def _levels(root: Path, config: Path) -> dict[str, Any]:
    done = _keyark(
        root, "monitor", "check", "--json", "--check=backup_age", "--no-alerts",
        "--config", str(config),
    )  # fmt: skip
    assert done.stdout.strip(), done.stderr
    return {r["subject"]: r for r in json.loads(done.stdout)["results"]}


def test_an_enrolled_host_that_never_reports_raises_backup_age(tmp_path: Path) -> None:
    jobs = {
        f"keys-{host}": {
            "repository": "main",
            "host": host,
            "sources": [str(tmp_path)],
            "schedule": "every 1s",
        }
        for host in (SILENT, NEVER, REVOKED)
    }
    config = server_config(tmp_path, jobs=jobs, backup=False)
    cert, key, _ = self_signed(tmp_path, "server")
    settings = settings_for(config, tls_cert=cert, tls_key=key)
    before = _levels(tmp_path, config)
    assert before[f"keys-{SILENT}"]["level"] == "ok"  # control: nothing enrolled, nothing due
    with tls_server(settings) as url:
        _enroll(tmp_path, config, url, SILENT)
        _enroll(tmp_path, config, url, REVOKED)
    revoked = _keyark(
        tmp_path, "server", "agent", "revoke", REVOKED, "--config", str(config),
        "--repo", str(tmp_path / "main"), KEYARK_PASSWORD=PASSWORD,
    )  # fmt: skip
    assert revoked.returncode == 0, revoked.stderr
    deadline = time.monotonic() + 60
    while True:  # the job is due every second: two missed runs after the enrolment
        levels = _levels(tmp_path, config)
        if levels[f"keys-{SILENT}"]["level"] == "critical" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    silent = levels[f"keys-{SILENT}"]
    assert silent["level"] == "critical", silent
    assert "no successful run yet" in silent["message"]
    assert levels[f"keys-{NEVER}"]["level"] == "ok"  # never enrolled: nothing expected of it
    assert levels[f"keys-{REVOKED}"]["level"] == "ok"  # revoked: not expected to report
