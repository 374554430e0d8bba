"""Metrics end to end: a REAL Prometheus server scrapes the installed daemon and finds a
job's last success; ``keyark metrics`` prints the exposition and writes node_exporter's
textfile atomically."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import CLI
from tests.e2e.daemon_cli import Daemon, successes, wait_for

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def daemon(cli: CLI, tmp_path: Path) -> Daemon:
    cli.run("init", check=True)
    return Daemon(cli, tmp_path)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert sample.timestamp is None
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A real Prometheus: (its config file, to be written by the test; its port)."""
    if not os.path.exists(PROMETHEUS):
        pytest.skip("prometheus is not installed (scripts/install-test-servers.sh installs it)")
    config, port = tmp_path / "prometheus.yml", free_port()
    yield config, port


def start_prometheus(config: Path, port: int, data: Path) -> subprocess.Popen[bytes]:
    log = (data.parent / "prometheus.log").open("wb")
    return subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={data}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def query(port: int, expression: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
    except OSError:
        return []  # not up yet
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def test_a_real_prometheus_scrapes_the_daemon(
    daemon: Daemon, prometheus: tuple[Path, int], tmp_path: Path
) -> None:
    metrics_port = free_port()
    daemon.write_config(
        {"tls": {"schedule": "every 2s"}},
        metrics={"listen": f"127.0.0.1:{metrics_port}"},
    )
    target = {"targets": [f"127.0.0.1:{metrics_port}"]}
    config, port = prometheus
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [
                    # the keyark job label is kept as "job" only with honor_labels
                    {"job_name": "keyark", "honor_labels": True, "static_configs": [target]},
                    {"job_name": "keyark-plain", "static_configs": [target]},
                ],
            }
        )
    )
    daemon.start()
    server = start_prometheus(config, port, tmp_path / "tsdb")
    try:
        wait_for(lambda: successes(daemon.runs(), "tls"), 30, "a successful run of job tls")
        found: list[dict[str, Any]] = []

        def scraped() -> bool:
            found[:] = query(port, 'keyark_job_last_success_timestamp_seconds{job="tls"}')
            return bool(found)

        wait_for(scraped, 60, "Prometheus to hold keyark_job_last_success_timestamp_seconds")
        sample = found[0]
        assert sample["metric"]["__name__"] == "keyark_job_last_success_timestamp_seconds"
        assert sample["metric"]["instance"] == f"127.0.0.1:{metrics_port}"
        last_success = float(sample["value"][1])
        runs = daemon.runs()
        ended = {
            datetime.fromisoformat(run["finished"]).timestamp() for run in runs if run["finished"]
        }
        assert last_success in ended  # the end of one of the job's runs, to the microsecond
        # without honor_labels the keyark label arrives renamed (the pitfall the docs name)
        plain: list[dict[str, Any]] = []

        def renamed() -> bool:
            plain[:] = query(port, 'keyark_job_last_success_timestamp_seconds{exported_job="tls"}')
            return bool(plain)

        wait_for(renamed, 30, "the plain scrape job's series (exported_job)")
        assert plain[0]["metric"]["job"] == "keyark-plain"
        # the repository facts and the run counter made it too
        assert query(port, 'keyark_repository_snapshots{repository="main",job="keyark"} >= 1')
        assert query(port, 'keyark_job_runs_total{job="tls",status="success"} >= 1')
    finally:
        server.terminate()
        server.wait(timeout=30)
        daemon.stop()
    log = daemon.log_text()
    assert f"metrics on http://127.0.0.1:{metrics_port}/metrics" in log


def test_metrics_prints_the_exposition(daemon: Daemon) -> None:
    daemon.write_config({"tls": {}})
    daemon.run("run", "tls", check=True)
    shown = daemon.run("metrics", check=True)
    found = samples(shown.stdout)
    assert found["keyark_job_runs_total", (("job", "tls"), ("status", "success"))] == 1
    assert found["keyark_job_last_run_status", (("job", "tls"),)] == 0
    assert found["keyark_repository_snapshots", (("repository", "main"),)] == 1
    assert found["keyark_repository_size_bytes", (("repository", "main"),)] > 0
    assert 0 <= found["keyark_data_key_age_seconds", (("repository", "main"),)] < 600
    assert shown.stderr == ""


def test_textfile_is_written_atomically(daemon: Daemon, tmp_path: Path) -> None:
    textfiles = tmp_path / "textfiles"
    textfiles.mkdir()
    daemon.write_config({"tls": {}}, metrics={"textfile_dir": str(textfiles)})
    daemon.run("run", "tls", check=True)
    target = textfiles / "keyark.prom"
    target.write_text("# the previous collection\n")
    previous = tmp_path / "previous.prom"
    os.link(target, previous)  # a reader holding the old file keeps seeing the old file

    written = daemon.run("metrics", "--textfile", str(textfiles), check=True)
    assert written.stdout.strip() == f"wrote {target}"
    assert previous.read_text() == "# the previous collection\n"  # renamed over, not rewritten
    assert os.stat(target).st_ino != os.stat(previous).st_ino
    assert sorted(p.name for p in textfiles.iterdir()) == ["keyark.prom"]  # no temporary left
    found = samples(target.read_text())
    assert found["keyark_job_runs_total", (("job", "tls"), ("status", "success"))] == 1
    for line in target.read_text().splitlines():  # node_exporter skips files with timestamps
        if line and not line.startswith("#"):
            assert len(line.rpartition("}")[2].split()) == 1, line  # a value, no timestamp

    # --textfile without DIR: the config's metrics.textfile_dir
    target.unlink()
    again = daemon.run("metrics", "--textfile", check=True)
    assert again.stdout.strip() == f"wrote {target}" and target.exists()

    missing = daemon.run("metrics", "--textfile", str(tmp_path / "nowhere"))
    assert missing.returncode == 1
    assert "textfile directory" in missing.stderr and "Traceback" not in missing.stderr
