"""Every remote backend end to end through the installed command, on its real server:
init -> backup -> restore --verify -> check --read-data; and their clear refusals."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from tests.conformance.servers import keygen
from tests.conftest import PASSWORD, make_tree, tree_state
from tests.e2e.remote import REMOTE_KINDS, make_remote

MIB = 1024 * 1024


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    """Exactly one ``keyark: ...`` line on stderr, no traceback, no passphrase; return it."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("keyark: "), result.stderr
    assert PASSWORD not in result.stderr
    return lines[0]


def source_tree(root: Path) -> Path:
    """Key files plus a few MiB of random data in several files."""
    make_tree(root)
    (root / "data").mkdir()
    for number in range(3):
        (root / "data" / f"blob{number}.bin").write_bytes(os.urandom(MIB + number * 4099))
    return root


@pytest.mark.parametrize("kind", REMOTE_KINDS)
def test_init_backup_restore_check(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    remote = make_remote(kind, request, tmp_path)
    source = source_tree(tmp_path / "src")
    remote.run("init", "--pack-size", "1", check=True)
    first = remote.json("backup", str(source))
    assert first["files_new"] == 9 and first["bytes_stored"] > 6 * MIB
    (source / "tls" / "rotated.key").write_text("-----BEGIN PRIVATE KEY-----\nnew\n")
    second = remote.json("backup", str(source))
    assert second["files_new"] == 1 and second["files_unchanged"] == 9
    assert second["bytes_stored"] < 64 * 1024  # only the new file and its trees
    target = tmp_path / "out"
    restored = remote.json("restore", "latest", "--target", str(target), "--verify")
    assert restored["files_verified"] == 10
    assert tree_state(target / source.relative_to("/")) == tree_state(source)
    checked = remote.json("check", "--read-data")
    assert checked["ok"] and checked["packs_read"] >= 6, checked
    assert len(remote.json("snapshots")) == 2


def test_missing_bucket_is_no_repository(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    remote = make_remote("s3", request, tmp_path)  # never initialised: no bucket
    line = assert_one_line_error(remote.run("snapshots"), 10)
    bucket = remote.url.split("/")[2]
    assert line == f"keyark: s3 backend {remote.url}: bucket {bucket} does not exist"


def test_no_repository_at_sftp_path(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    remote = make_remote("sftp", request, tmp_path)
    line = assert_one_line_error(remote.run("snapshots"), 10)
    assert line.startswith(f"keyark: no repository at {remote.url}") and "keyark init" in line


def test_sftp_unknown_and_changed_host_keys_are_refused(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    remote = make_remote("sftp", request, tmp_path)
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    identity = ["--sftp-identity", remote.flags[remote.flags.index("--sftp-identity") + 1]]
    remote.flags = identity  # the known_hosts of an empty HOME: the host is unknown
    line = assert_one_line_error(remote.run("init", env={"HOME": str(home)}), 1)
    assert line.startswith(f"keyark: sftp backend {remote.url}: host key of 127.0.0.1 is unknown")
    keygen(tmp_path / "impostor")
    impostor = (tmp_path / "impostor.pub").read_text().split()
    port = remote.url.split(":")[2].split("/")[0]
    changed = tmp_path / "changed_hosts"
    changed.write_text(f"[127.0.0.1]:{port} {impostor[0]} {impostor[1]}\n")
    remote.flags = [*identity, "--sftp-known-hosts", str(changed)]
    line = assert_one_line_error(remote.run("init"), 1)
    assert "does not match" in line and "man-in-the-middle" in line
    assert not (Path(remote.url.split(port, 1)[1])).exists()  # nothing was written


def test_bad_s3_credentials_are_one_clear_line(
    moto_with_auth: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    remote = make_remote("local", request, tmp_path)
    secret = "wJalrXUtnFEMI-not-a-real-secret-e2e"
    remote.url = "s3://keyark-bad-credentials/repo"
    remote.env.update(
        KEYARK_REPOSITORY=remote.url,
        AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE",
        AWS_SECRET_ACCESS_KEY=secret,
    )
    remote.flags = ["--s3-endpoint", moto_with_auth]
    for verb in (["snapshots"], ["init"]):
        line = assert_one_line_error(remote.run(*verb), 1)
        assert line.startswith(f"keyark: s3 backend {remote.url}: ")
        assert "credentials rejected (InvalidAccessKeyId)" in line
        assert secret not in line


def test_missing_extra_names_it(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    remote = make_remote("s3", request, tmp_path)
    fake = tmp_path / "no-boto3"
    fake.mkdir()
    (fake / "boto3.py").write_text("raise ImportError('no boto3 here', name='boto3')\n")
    line = assert_one_line_error(remote.run("snapshots", env={"PYTHONPATH": str(fake)}), 1)
    assert "s3:// backend needs an optional dependency (boto3)" in line
    assert "pip install 'keyark[s3]'" in line


def test_backend_check_reports_each_check(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    remote = make_remote("s3", request, tmp_path)
    remote.run("init", check=True)
    report = remote.json("backend", "check", "--many", "1100", "--large-mib", "6")
    assert report["ok"] and report["failed"] == 0
    assert {c["name"] for c in report["checks"]} >= {"put_get", "many_keys", "large_object"}
    assert all(c["ok"] for c in report["checks"])
    plain = remote.run("backend", "check", remote.url, "--only", "put_get", check=True).stdout
    assert "put_get" in plain and "1 of 1 checks passed" in plain
    # The scratch prefix is gone; the repository is untouched.
    assert remote.json("check")["ok"]
    missing = make_remote("s3", request, tmp_path)  # a bucket that does not exist
    result = missing.run("backend", "check", "--only", "put_get", "--only", "listing")
    line = assert_one_line_error(result, 1)
    assert line == f"keyark: backend {missing.url} failed 2 check(s): put_get, listing"
    assert "FAILED" in result.stdout and "does not exist" in result.stdout
