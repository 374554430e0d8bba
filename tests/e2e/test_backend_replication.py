"""Across backends: ``copy`` between providers, and S3 Object Lock (WORM) repositories."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
from tests.conftest import PASSWORD, tree_state
from tests.e2e.remote import Remote, make_remote
from tests.e2e.test_backends import assert_one_line_error, source_tree

SOURCE_PASSWORD = "source passphrase, not the target's"


def copy(
    target: Remote, source: Remote, *refs: str, password: str = SOURCE_PASSWORD
) -> dict[str, Any]:
    """``keyark copy --from-repo SOURCE REFS`` into ``target``; the JSON summary."""
    result = target.run(
        "copy",
        "--from-repo",
        source.url,
        *(refs or ("--all",)),
        "--json",
        *source.flags,
        env={"KEYARK_FROM_PASSWORD": password},
        check=True,
    )
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return summary


def restored_equal(remote: Remote, snapshot: str, source: Path, target: Path) -> None:
    remote.run("restore", snapshot, "--target", str(target), "--verify", check=True)
    assert tree_state(target / source.relative_to("/")) == tree_state(source)


def test_copy_local_to_s3_then_s3_to_sftp(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    source_dir = source_tree(tmp_path / "src")
    local = make_remote("local", request, tmp_path)
    local.env["KEYARK_PASSWORD"] = SOURCE_PASSWORD
    local.run("init", "--pack-size", "1", check=True)
    first = local.json("backup", str(source_dir), "--tag", "one")["snapshot_id"]
    (source_dir / "data" / "later.bin").write_bytes(os.urandom(300_000))
    second = local.json("backup", str(source_dir), "--tag", "two")["snapshot_id"]

    # local -> s3: everything, re-encrypted under the target's own keys.
    s3 = make_remote("s3", request, tmp_path)
    s3.run("init", check=True)
    summary = copy(s3, local)
    assert len(summary["copied"]) == 2 and summary["skipped"] == []
    assert summary["bytes_added"] > 3 * 1024 * 1024
    again = copy(s3, local)
    assert again["copied"] == [] and len(again["skipped"]) == 2 and again["bytes_added"] == 0
    snapshots = s3.json("snapshots")
    assert sorted(s["tags"][0] for s in snapshots) == ["one", "two"]
    assert {s["id"] for s in snapshots}.isdisjoint({first, second})  # keyed ids differ
    assert s3.json("check", "--read-data")["ok"]
    restored_equal(s3, "latest", source_dir, tmp_path / "from-s3")
    wrong = s3.run("snapshots", env={"KEYARK_PASSWORD": SOURCE_PASSWORD})
    assert wrong.returncode == 12  # the source's passphrase does not open the copy

    # s3 -> sftp, into a repository that already holds the same data: dedup.
    sftp = make_remote("sftp", request, tmp_path)
    sftp.run("init", "--pack-size", "1", check=True)
    direct = sftp.json("backup", str(source_dir))
    assert direct["bytes_stored"] > 3 * 1024 * 1024
    one = next(s["id"] for s in snapshots if s["tags"] == ["one"])
    partial = copy(sftp, s3, one[:8], password=PASSWORD)
    assert len(partial["copied"]) == 1
    assert partial["bytes_added"] < 64 * 1024, "content already in the target is not stored again"
    rest = copy(sftp, s3, password=PASSWORD)
    assert len(rest["copied"]) == 1 and len(rest["skipped"]) == 1
    assert rest["bytes_added"] < 64 * 1024
    assert copy(sftp, s3, password=PASSWORD)["copied"] == []
    assert len(sftp.json("snapshots")) == 3
    assert sftp.json("check", "--read-data")["ok"]
    restored_equal(sftp, "latest", source_dir, tmp_path / "from-sftp")


def _s3_client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint)


def test_object_lock_every_object_retained_delete_fails_at_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    remote = make_remote("s3", request, tmp_path)
    endpoint = remote.flags[remote.flags.index("--s3-endpoint") + 1]
    bucket = remote.url.split("/")[2]
    raw = _s3_client(endpoint)
    source_dir = source_tree(tmp_path / "src")
    remote.run("init", "--pack-size", "1", "--s3-object-lock-days", "1", check=True)
    config = json.loads(raw.get_object(Bucket=bucket, Key="repo/config")["Body"].read())
    assert config["public"]["backend_settings"] == {"s3_object_lock_days": 1}
    remote.json("backup", str(source_dir))
    (source_dir / "later.key").write_text("written by a later process without the flag")
    remote.json("backup", str(source_dir))  # a new process: the config turns the lock on

    objects = [
        item["Key"]
        for page in raw.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="repo/")
        for item in page.get("Contents", [])
    ]
    kept = [key for key in objects if not key.startswith("repo/locks/")]
    assert any(key.startswith("repo/data/") for key in kept)
    for key in kept:
        head = raw.head_object(Bucket=bucket, Key=key)
        assert head.get("ObjectLockMode") == "COMPLIANCE", key
        assert head["ObjectLockRetainUntilDate"] is not None

    pack = next(key for key in kept if key.startswith("repo/data/"))
    # The audit log's repository copy is retained like everything else (issue 15: audit
    # objects are never removed by forget/prune, nor by a storage writer under the lock).
    audit = next(key for key in kept if key.startswith("repo/audit/"))
    for key in (pack, audit):
        version = raw.head_object(Bucket=bucket, Key=key)["VersionId"]
        with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
            raw.delete_object(Bucket=bucket, Key=key, VersionId=version)
        assert raw.head_object(Bucket=bucket, Key=key)["VersionId"] == version

    # forget/prune cannot delete locked objects: one clear line, nothing lost.
    line = assert_one_line_error(remote.run("forget", "--keep-last", "1", "--prune"), 1)
    assert line.startswith(f"keyark: s3 backend {remote.url}: access denied for deleting ")
    assert "S3 Object Lock retention until" in line
    snapshots = remote.json("snapshots")
    assert len(snapshots) == 2
    assert remote.json("check", "--read-data")["ok"]
    restored_equal(remote, "latest", source_dir, tmp_path / "out")

    # Hide the newer snapshot behind a delete marker (allowed: the version stays), then
    # prune finds its data unused; it cannot delete the locked packs, says why for each,
    # and fails (exit 1) with one closing line.
    newer = max(snapshots, key=lambda s: s["time"])["id"]
    raw.delete_object(Bucket=bucket, Key=f"repo/snapshots/{newer}")
    pruned = remote.run("prune", "--max-unused", "0")
    assert pruned.returncode == 1 and "Traceback" not in pruned.stderr, pruned.stderr
    *warnings, final = pruned.stderr.strip().splitlines()
    assert warnings and all(
        line.startswith("warning: could not delete ")
        and f"s3 backend {remote.url}: access denied for deleting " in line
        and "S3 Object Lock retention until" in line
        and "run prune again" not in line
        for line in warnings
    ), pruned.stderr
    assert final.startswith("keyark: prune could not delete ") and "consistent" in final
    assert remote.json("check", "--read-data")["ok"]
    assert len(remote.json("snapshots")) == 1
    # Every refusal above was audited, and the log (locked objects included) verifies.
    remote.run("audit", "verify", check=True)
    operations = [record["operation"] for record in remote.json("audit", "log")]
    assert operations.count("prune") >= 1 and "forget" in operations


def test_object_lock_needs_s3(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    remote = make_remote("gcs", request, tmp_path)
    line = assert_one_line_error(remote.run("init", "--s3-object-lock-days", "3"), 1)
    assert line == "keyark: S3 Object Lock works only with s3:// repositories"


def test_object_lock_refused_on_existing_bucket_without_lock(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    remote = make_remote("s3", request, tmp_path)
    endpoint = remote.flags[remote.flags.index("--s3-endpoint") + 1]
    _s3_client(endpoint).create_bucket(Bucket=remote.url.split("/")[2])
    line = assert_one_line_error(remote.run("init", "--s3-object-lock-days", "1"), 1)
    assert "exists without Object Lock" in line
