"""``keyark import`` through the installed command: the seed system's archives and hostile ones.

The seed's archives are made here the way its scripts made them: ``tar czf
keys_backup_YYYYMMDD_HHMMSS.tar.gz`` (files mode 600), a ``.sha256`` file beside, and
``openssl enc -aes-256-cbc`` with ``-pbkdf2`` or the legacy ``-md md5`` derivation,
the password in ``backup_master.key``. Imported snapshots carry the time from the name
and the archive's files byte for byte. A ``.sha256`` mismatch and each hostile archive
(absolute path, ``../x``, a symlink out of the tree, a device file) are refused with one
line, and the repository is left exactly as it was (``audit/`` and ``locks/`` aside).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from tests.conftest import CLI
from tests.hostile_archives import REFUSALS, hostile_tar

#: The seed's encryption command (the derivation flags follow).
OPENSSL = ("openssl", "enc", "-aes-256-cbc", "-salt")

pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None or shutil.which("tar") is None, reason="needs openssl and tar"
)

#: Repository objects an import never changes when it refuses (its audit record aside).
VOLATILE = ("audit", "locks")


def _objects(repo: Path) -> dict[str, bytes]:
    """Every object of the repository but the audit log and locks: name -> content."""
    return {
        str(path.relative_to(repo)): path.read_bytes()
        for path in sorted(repo.rglob("*"))
        if path.is_file() and path.relative_to(repo).parts[0] not in VOLATILE
    }


def _seed_archive(work: Path, stamp: str) -> Path:
    """``keys_backup_<stamp>.tar.gz`` of ``keys/`` as the seed's script made it."""
    keys = work / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    (keys / "master.key").write_bytes(os.urandom(64))
    (keys / "api.pem").write_text("-----BEGIN PRIVATE KEY-----\nMC4C\n")
    for path in keys.iterdir():
        os.chmod(path, 0o600)
    archive = work / f"keys_backup_{stamp}.tar.gz"
    subprocess.run(["tar", "czf", archive.name, "keys"], cwd=work, check=True)
    return archive


def _sha256_file(archive: Path, target: Path | None = None) -> None:
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    (target or archive.with_name(archive.name + ".sha256")).write_text(
        f"{digest}  {archive.name}\n"
    )


def _openssl(archive: Path, key_file: Path, *flags: str) -> Path:
    encrypted = archive.with_name(archive.name + ".enc")
    subprocess.run(
        [
            *OPENSSL,
            *flags,
            "-in",
            str(archive),
            "-out",
            str(encrypted),
            "-pass",
            f"file:{key_file}",
        ],
        check=True,
        capture_output=True,
    )
    return encrypted


def _snapshot_files(cli: CLI, snapshot_id: str, tmp_path: Path) -> dict[str, tuple[int, bytes]]:
    target = tmp_path / f"restored-{snapshot_id[:8]}"
    cli.run("restore", snapshot_id, "--target", str(target), check=True)
    return {
        str(path.relative_to(target)): (path.stat().st_mode & 0o777, path.read_bytes())
        for path in sorted(target.rglob("*"))
        if path.is_file()
    }


def test_the_seeds_archives_import_with_time_from_name_and_their_files(
    cli: CLI, tmp_path: Path
) -> None:
    cli.run("init", check=True)
    work = tmp_path / "seed"
    key_file = work / "backup_master.key"
    work.mkdir()
    key_file.write_text("dGhlIHNlZWQncyBtYXN0ZXIga2V5\n")
    os.chmod(key_file, 0o600)
    plain = _seed_archive(work, "20240716_142533")
    _sha256_file(plain)
    expected = {
        f"keys/{p.name}": (0o600, p.read_bytes()) for p in sorted((work / "keys").iterdir())
    }
    modern = _openssl(plain, key_file, "-pbkdf2")
    legacy_source = _seed_archive(tmp_path / "legacy", "20230101_020304")
    legacy = _openssl(legacy_source, key_file, "-md", "md5")
    legacy_expected = {
        f"keys/{p.name}": (0o600, p.read_bytes())
        for p in sorted((tmp_path / "legacy" / "keys").iterdir())
    }
    legacy_source.unlink()  # only the encrypted one is kept, as the seed did
    done = cli.run(
        "import",
        str(plain),
        str(modern),
        str(legacy),
        "--time-from-name",
        "--host",
        "seedhost",
        "--openssl-key-file",
        str(key_file),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    assert "dGhlIHNlZWQ" not in done.stdout + done.stderr  # the key never shows
    imported = json.loads(done.stdout.splitlines()[-1])["imported"]
    assert [(i["encrypted"], i["checksum_file"]) for i in imported] == [
        (False, plain.name + ".sha256"),
        (True, plain.name + ".sha256"),  # the .sha256 of the plaintext beside the .enc
        (True, None),
    ]
    listing = json.loads(cli.run("snapshots", "--json", check=True).stdout)
    by_id = {s["id"]: s for s in listing}
    times = [datetime.fromisoformat(by_id[i["snapshot_id"]]["time"]) for i in imported]
    assert times == [
        datetime(2024, 7, 16, 14, 25, 33).astimezone(),
        datetime(2024, 7, 16, 14, 25, 33).astimezone(),
        datetime(2023, 1, 1, 2, 3, 4).astimezone(),
    ]
    assert {by_id[i["snapshot_id"]]["host"] for i in imported} == {"seedhost"}
    assert all("imported" in by_id[i["snapshot_id"]]["tags"] for i in imported)
    trees = [by_id[i["snapshot_id"]]["tree"] for i in imported]
    assert trees[0] == trees[1] != trees[2]  # the same archive, plain and encrypted
    assert _snapshot_files(cli, imported[1]["snapshot_id"], tmp_path) == expected
    assert _snapshot_files(cli, imported[2]["snapshot_id"], tmp_path) == legacy_expected
    again = cli.run("import", str(plain), "--time-from-name", "--host", "seedhost")
    assert again.returncode == 0 and "was imported before" in again.stdout


def test_a_checksum_mismatch_or_a_wrong_key_file_refuses_and_stores_nothing(
    cli: CLI, tmp_path: Path
) -> None:
    cli.run("init", check=True)
    work = tmp_path / "seed"
    work.mkdir()
    archive = _seed_archive(work, "20240716_142533")
    (work / f"{archive.name}.sha256").write_text("0" * 64 + f"  {archive.name}\n")
    key_file = work / "backup_master.key"
    key_file.write_text("right\n")
    encrypted = _openssl(_seed_archive(tmp_path / "other", "20240801_000000"), key_file, "-pbkdf2")
    wrong = work / "wrong.key"
    wrong.write_text("wrong\n")
    before = _objects(cli.repo)
    done = cli.run("import", str(archive))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"keyark: {archive.name} does not match its checksum file {archive.name}.sha256 "
        "(SHA-256 differs); nothing was imported"
    ]
    done = cli.run("import", str(encrypted), "--openssl-key-file", str(wrong))
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1
    assert "does not decrypt to an archive with the key file" in done.stderr
    assert _objects(cli.repo) == before
    # positive control: the right key imports it (the repository does change)
    cli.run("import", str(encrypted), "--openssl-key-file", str(key_file), check=True)
    assert _objects(cli.repo) != before


def test_hostile_archives_are_refused_in_one_line_and_nothing_is_stored(
    cli: CLI, tmp_path: Path
) -> None:
    cli.run("init", check=True)
    good = _seed_archive(tmp_path / "good", "20240716_142533")
    before = _objects(cli.repo)
    for name in ("absolute", "dotdot", "symlink out", "device"):
        change, message = REFUSALS[name]
        hostile = tmp_path / f"{name.replace(' ', '-')}.tar.gz"
        hostile.write_bytes(hostile_tar(change))
        # the good archive first: it is not stored either, since every archive is
        # checked before any is stored
        done = cli.run("import", str(good), str(hostile))
        assert done.returncode == 1, (name, done.stdout)
        lines = [line for line in done.stderr.splitlines() if not line.startswith("warning:")]
        assert lines == [f"keyark: {hostile.name}: {message}"], name
        assert _objects(cli.repo) == before, name
    zipped = tmp_path / "evil.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("keys/ok.key", b"ok")
        archive.writestr("../../x", b"evil")
    done = cli.run("import", str(zipped))
    assert done.returncode == 1 and "refusing member '../../x'" in done.stderr
    assert _objects(cli.repo) == before
    # positive control: the good archive alone is stored
    cli.run("import", str(good), check=True)
    assert _objects(cli.repo) != before


def test_a_plain_zip_and_a_tar_zst_import(cli: CLI, tmp_path: Path) -> None:
    cli.run("init", check=True)
    zipped = tmp_path / "certs.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        info = zipfile.ZipInfo("certs/a.pem")
        info.create_system, info.external_attr = 3, (0o100640 << 16)
        archive.writestr(info, b"PEM A")
    done = cli.run("import", str(zipped), "--tag", "legacy", "--json")
    assert done.returncode == 0, done.stderr
    item = json.loads(done.stdout.splitlines()[-1])["imported"][0]
    assert item["paths"] == ["/certs"] and item["files"] == 1
    assert _snapshot_files(cli, item["snapshot_id"], tmp_path) == {"certs/a.pem": (0o640, b"PEM A")}
    if shutil.which("zstd"):
        work = tmp_path / "z"
        (work / "keys").mkdir(parents=True)
        (work / "keys" / "k").write_bytes(b"zstd key")
        subprocess.run(["tar", "--zstd", "-cf", "k.tar.zst", "keys"], cwd=work, check=True)
        done = cli.run("import", str(work / "k.tar.zst"), "--json")
        assert done.returncode == 0, done.stderr
        snap = json.loads(done.stdout.splitlines()[-1])["imported"][0]["snapshot_id"]
        assert _snapshot_files(cli, snap, tmp_path)["keys/k"][1] == b"zstd key"
