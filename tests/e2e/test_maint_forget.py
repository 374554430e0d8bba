"""``keyark forget`` and ``keyark prune`` from the command line; bad input changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.conftest import CLI, PASSWORD
from tests.e2e.maint_cli import assert_one_line_error, init_small, objects, write_random

from keyark import ops
from keyark.archiver.backup import BackupOptions, backup
from keyark.context import OperationContext
from keyark.crypto.slots import Credentials


def dated_history(cli: CLI, tmp_path: Path) -> dict[str, list[str]]:
    """Snapshots of two hosts, one every 12 hours over 6 days (through the API, with times)."""
    source = write_random(tmp_path / "src", {"a.key": 2000, "b.crt": 3000})
    repo = ops.open_repository(str(cli.repo), Credentials(passphrase=PASSWORD.encode()))
    ctx = OperationContext(cache_dir=cli.cache)
    made: dict[str, list[str]] = {"web": [], "db": []}
    start = datetime(2024, 3, 1, 1, 0, tzinfo=UTC)
    try:
        for step in range(12):
            for host, ids in made.items():
                write_random(source, {"a.key": 2000 + step})
                options = BackupOptions(
                    paths=[str(source)],
                    host=host,
                    time=start + timedelta(hours=12 * step),
                    tags=["t"] if step else [],
                )
                summary = backup(repo, options, ctx)
                ids.append(summary.snapshot_id)
    finally:
        repo.close()
    return made


def snapshot_ids(cli: CLI) -> list[str]:
    return [s["id"] for s in json.loads(cli.run("snapshots", "--json", check=True).stdout)]


def test_forget_policy_dry_run_then_real(cli: CLI, tmp_path: Path) -> None:
    cli.env["TZ"] = "UTC"  # days are counted in local time
    init_small(cli)
    made = dated_history(cli, tmp_path)
    before = objects(cli.repo)
    args = ("forget", "--keep-daily", "2", "--keep-last", "1", "--keep-tag", "nothing")
    dry = cli.run(*args, "--dry-run", check=True)
    assert objects(cli.repo) == before
    out = dry.stdout
    assert "Applying policy: keep 1 latest, 2 daily snapshots" in out
    assert "snapshots for host [db], paths [" in out and "snapshots for host [web]" in out
    assert out.count("keep 2 snapshots:") == 2 and out.count("remove 10 snapshots:") == 2
    assert "last snapshot; daily snapshot" in out and "dry run: would remove 20 snapshots" in out
    real = json.loads(cli.run(*args, "--json", check=True).stdout)
    assert [group["host"] for group in real] == ["db", "web"]
    for group in real:
        host = group["host"]
        kept = [s["id"] for s in group["keep"]]
        # Newest of day 6 (12:00+13:00) and newest of day 5, per host.
        assert kept == [made[host][-1], made[host][-3]]
        assert len(group["remove"]) == 10
        assert group["reasons"][0]["matches"] == ["last snapshot", "daily snapshot"]
    assert sorted(snapshot_ids(cli)) == sorted(
        made["web"][-1:] + made["web"][-3:-2] + made["db"][-1:] + made["db"][-3:-2]
    )


def test_forget_filters_group_by_and_ids(cli: CLI, tmp_path: Path) -> None:
    cli.env["TZ"] = "UTC"
    init_small(cli)
    made = dated_history(cli, tmp_path)
    # Only host web is touched; one group for all its paths.
    result = json.loads(
        cli.run(
            "forget", "--host", "web", "--keep-last", "3", "--group-by", "", "--json", check=True
        ).stdout
    )
    assert len(result) == 1 and result[0]["host"] is None
    remaining = set(snapshot_ids(cli))
    assert set(made["db"]) <= remaining and len(remaining & set(made["web"])) == 3
    # By tag: the first snapshots have no tag "t" and are kept apart when grouped by tags.
    grouped = json.loads(
        cli.run(
            "forget",
            "--host",
            "db",
            "--keep-last",
            "1",
            "--group-by",
            "host,tags",
            "--dry-run",
            "--json",
            check=True,
        ).stdout
    )
    assert sorted(tuple(g["tags"]) for g in grouped) == [(), ("t",)]
    # Explicit ids, by unique prefix.
    victim = made["db"][0]
    cli.run("forget", victim[:10], check=True)
    assert victim not in snapshot_ids(cli)


def test_forget_prune_reports_space(cli: CLI, tmp_path: Path) -> None:
    init_small(cli)
    source = write_random(tmp_path / "src", {f"f{i}": 150_000 for i in range(10)})
    for round_ in range(3):
        write_random(source, {f"f{i}": 150_000 for i in range(round_ * 3, round_ * 3 + 4)})
        cli.run("backup", str(source), check=True)
    size_before = sum(objects(cli.repo).values())
    result = cli.run("forget", "--keep-last", "1", "--prune", "--max-unused", "0%", check=True)
    assert "removed 2 snapshots" in result.stdout
    assert "to repack:" in result.stdout and "freed" in result.stdout
    assert sum(objects(cli.repo).values()) < size_before - 400_000
    checked = json.loads(cli.run("check", "--read-data", "--json", check=True).stdout)
    assert checked["ok"]
    again = json.loads(cli.run("prune", "--dry-run", "--json", check=True).stdout)
    assert again["plan"]["unused_bytes"] == 0 and again["plan"]["unindexed_packs"] == 0
    target = tmp_path / "out"
    cli.run("restore", "latest", "--target", str(target), check=True)
    for i in range(10):
        restored = target / str(source).lstrip("/") / f"f{i}"
        assert restored.read_bytes() == (source / f"f{i}").read_bytes()


BAD_INPUT = [
    (["forget"], "no retention policy"),
    (["forget", "--keep-last", "0", "--keep-daily", "0"], "no retention policy"),
    (["forget", "--host", "web"], "no retention policy"),
    (["forget", "--keep-last", "-5"], "--keep-last '-5'"),
    (["forget", "--keep-weekly", "many"], "--keep-weekly 'many'"),
    (["forget", "--keep-within", "1w"], "--keep-within '1w'"),
    (["forget", "--keep-within", "0d"], "longer than zero"),
    (["forget", "--keep-tag", ","], "--keep-tag"),
    (["forget", "--keep-last", "2", "--group-by", "hostname"], "unknown field 'hostname'"),
    (["forget", "--keep-last", "2", "deadbeef"], "not both"),
    (["forget", "--keep-last", "2", "--prune", "--max-unused", "150%"], "--max-unused"),
    (["forget", "--keep-last", "2", "--retry-lock", "10"], "--retry-lock '10'"),
    (["prune", "--max-unused", "lots"], "--max-unused 'lots'"),
    (["prune", "--max-unused", "-3%"], "between 0% and 100%"),
    (["prune", "--max-repack-size", "12X"], "--max-repack-size '12X'"),
    (["prune", "--max-repack-size", "-1M"], "--max-repack-size"),
    (["prune", "--retry-lock", "soon"], "--retry-lock 'soon'"),
    (["backup", ".", "--retry-lock", "5"], "--retry-lock '5'"),
    (["check", "--retry-lock", "1x"], "--retry-lock"),
    (["repair", "snapshots", "--retry-lock", "1q"], "--retry-lock"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_and_changes_nothing(
    cli: CLI, args: list[str], message: str, shared_repo: Path
) -> None:
    cli.repo = shared_repo
    cli.env["KEYARK_REPOSITORY"] = str(shared_repo)
    before = objects(shared_repo)
    result = cli.run(*args)
    line = assert_one_line_error(result)
    assert message in line, line
    assert objects(shared_repo) == before


@pytest.fixture(scope="module")
def shared_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small repository with three snapshots, shared by the bad-input cases."""
    root = tmp_path_factory.mktemp("bad-input")
    env_cli = _module_cli(root)
    init_small(env_cli)
    source = write_random(root / "src", {"x": 5000, "y": 6000})
    for _ in range(3):
        env_cli.run("backup", str(source), check=True)
    return env_cli.repo


def _module_cli(root: Path) -> CLI:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYARK_")}
    env.update(
        KEYARK_REPOSITORY=str(root / "repo"),
        KEYARK_PASSWORD=PASSWORD,
        KEYARK_CACHE_DIR=str(root / "cache"),
        KEYARK_STATE_DIR=str(root / "state"),
    )
    return CLI(env, root / "repo", root / "cache")
