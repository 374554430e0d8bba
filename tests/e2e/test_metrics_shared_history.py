"""``keyark metrics --textfile`` (node_exporter's path) with the run history on the shared
PostgreSQL of ``server.database`` (a real PostgreSQL): the installed keyark runs a job and
writes the textfile from that database; the same state directory without
``server.database`` (the positive control) shows no run."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import CLI
from tests.e2e.daemon_cli import Daemon

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def textfile(daemon: Daemon, directory: Path) -> Samples:
    """``keyark metrics --textfile DIR``, read back."""
    written = daemon.run("metrics", "--textfile", str(directory), check=True)
    target = directory / "keyark.prom"
    assert written.stdout.strip() == f"wrote {target}"
    found: Samples = {}
    for family in text_string_to_metric_families(target.read_text()):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_the_textfile_reads_the_shared_history(cli: CLI, tmp_path: Path, postgres_url: str) -> None:
    cli.run("init", check=True)
    daemon = Daemon(cli, tmp_path)
    textfiles = tmp_path / "textfiles"
    textfiles.mkdir()
    daemon.write_config({"tls": {}}, server={"database": postgres_url})
    daemon.run("run", "tls", check=True)

    found = textfile(daemon, textfiles)
    tls = (("job", "tls"),)
    assert found["keyark_job_runs_total", (*tls, ("status", "success"))] == 1
    assert found["keyark_job_last_success_timestamp_seconds", tls] > 0
    assert found["keyark_job_last_run_status", tls] == 0  # success

    daemon.write_config({"tls": {}})  # the same state directory, its own SQLite history
    found = textfile(daemon, textfiles)
    assert found["keyark_job_runs_total", (*tls, ("status", "success"))] == 0
    assert ("keyark_job_last_success_timestamp_seconds", tls) not in found
