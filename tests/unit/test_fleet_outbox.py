"""An enrolled agent's outbox (keyark.fleet.outbox) and which configs are an enrolled
agent's (keyark.fleet.agent_runs)."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

import yaml

from keyark.config.loading import load_config_file
from keyark.fleet.agent_runs import enrolment_directory
from keyark.fleet.outbox import Outbox


def _append(directory: str, worker: int) -> None:
    for number in range(25):
        with Outbox(Path(directory)).held() as queued:
            queued.append({"job": f"w{worker}", "started": str(number)})


def test_concurrent_processes_lose_no_report(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append, args=(str(tmp_path), n)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    queued = Outbox(tmp_path).documents()
    assert len(queued) == 100
    assert {(d["job"], d["started"]) for d in queued} == {
        (f"w{w}", str(n)) for w in range(4) for n in range(25)
    }
    assert stat.S_IMODE((tmp_path / "outbox.json").stat().st_mode) == 0o600


def test_an_unchanged_outbox_is_not_written(tmp_path: Path) -> None:
    with Outbox(tmp_path).held():
        pass
    assert not (tmp_path / "outbox.json").exists()
    assert Outbox(tmp_path).documents() == []


def _config(tmp_path: Path, agent_dir: Path) -> Path:
    document = {
        "version": 1,
        "repositories": {
            "main": {"url": str(tmp_path / "repo"), "agent_credential": str(agent_dir / "c.json")}
        },
        "jobs": {"keys": {"repository": "main", "sources": [str(tmp_path)]}},
    }
    path = tmp_path / "keyark.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_only_a_credential_beside_an_enrolment_makes_a_config_an_agents(tmp_path: Path) -> None:
    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    config = load_config_file(_config(tmp_path, agent_dir))
    assert enrolment_directory(config, "keys") is None  # a plain agent credential (agent add)
    (agent_dir / "server.json").write_text("{}")
    assert enrolment_directory(config, "keys") == agent_dir
    # a job assigned since the config was written: found on the config's repositories
    assert enrolment_directory(config, "other") == agent_dir
