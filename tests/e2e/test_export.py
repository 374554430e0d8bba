"""``keyark export`` and ``export verify`` through the installed command.

A signed export verifies against the key ``export key`` printed (with no repository
given to ``verify``); one byte changed in a member makes it fail naming that member (the
positive control); a signature by another repository fails against the pinned key; an
age-encrypted export decrypts with the recipient's identity (pyrage) to the snapshot's
files; every format holds the snapshot's files; a failed export leaves no file.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
import zstandard
from tests.conftest import CLI, PASSWORD, keyark_binary

#: The receiver's environment: no repository, no passphrase.
RECEIVER = {"KEYARK_REPOSITORY": "", "KEYARK_PASSWORD": ""}


def _source(root: Path) -> Path:
    (root / "tls").mkdir(parents=True)
    (root / "tls" / "server.key").write_bytes(b"-----BEGIN PRIVATE KEY-----\nMIIE\n")
    (root / "tls" / "server.crt").write_bytes(b"-----BEGIN CERTIFICATE-----\nMIID\n")
    (root / "ssh").mkdir()
    (root / "ssh" / "id_ed25519").write_bytes(os.urandom(300))
    os.chmod(root / "ssh" / "id_ed25519", 0o600)
    os.link(root / "tls" / "server.key", root / "ssh" / "server.key.link")
    os.symlink("server.crt", root / "tls" / "current.crt")
    return root


def _files(root: Path) -> dict[str, bytes]:
    """Relative path -> content of every regular file below ``root``."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def _members(data: bytes) -> dict[str, bytes]:
    """Name -> content of every regular file (hard links resolved) of an archive."""
    if data.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {
                info.filename: archive.read(info)
                for info in archive.infolist()
                if not info.is_dir() and (info.external_attr >> 28) != 0o12
            }
    if data.startswith(b"\x28\xb5\x2f\xfd"):
        data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if member.isreg():
                found[member.name] = tar.extractfile(member).read()  # type: ignore[union-attr]
            elif member.islnk():
                found[member.name] = found[member.linkname]
    return found


@pytest.fixture
def exported(cli: CLI, tmp_path: Path) -> tuple[Path, Path]:
    """(source, the repository's signed tar export of it, with all three manifests)."""
    source = _source(tmp_path / "src")
    cli.run("init", check=True)
    cli.run("backup", str(source), check=True)
    archive = tmp_path / "out" / "keys.tar"
    archive.parent.mkdir()
    cli.run(
        "export",
        f"latest:{source}",
        "--output",
        str(archive),
        "--format",
        "tar",
        "--sign",
        "--checksums",
        "sha256,sha1,md5",
        check=True,
    )
    return source, archive


def test_signed_export_verifies_and_a_changed_byte_fails_naming_the_member(
    cli: CLI, exported: tuple[Path, Path], tmp_path: Path
) -> None:
    source, archive = exported
    key = cli.run("export", "key", check=True).stdout.strip()
    assert key.startswith("ed25519:") and len(key) == 8 + 64
    names = sorted(p.name for p in archive.parent.iterdir())
    assert names == [f"keys.tar{s}" for s in ("", ".MD5SUMS", ".SHA1SUMS", ".SHA256SUMS", ".sig")]
    assert all((archive.parent / n).stat().st_mode & 0o777 == 0o600 for n in names)
    assert _members(archive.read_bytes()) == _files(source)
    done = cli.run("export", "verify", str(archive), "--public-key", key, env=RECEIVER)
    assert done.returncode == 0, done.stderr
    assert "4 members match SHA256SUMS, SHA1SUMS, MD5SUMS" in done.stdout
    assert "signature by the pinned key verified" in done.stdout
    # a receiver without keyark checks the extracted files with coreutils
    if shutil.which("sha256sum"):
        unpacked = tmp_path / "unpacked"
        unpacked.mkdir()
        with tarfile.open(archive) as tar:
            tar.extractall(unpacked, filter="data")
        sums = archive.with_name("keys.tar.SHA256SUMS")
        check = subprocess.run(
            ["sha256sum", "-c", str(sums)], cwd=unpacked, capture_output=True, check=False
        )
        assert check.returncode == 0, check.stdout

    # positive control: one byte of a member's content changed
    data = bytearray(archive.read_bytes())
    data[data.index(b"MIID")] ^= 0x01
    archive.write_bytes(bytes(data))
    done = cli.run("export", "verify", str(archive), "--public-key", key, env=RECEIVER)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "keyark: tls/server.crt: its SHA-256 differs from keys.tar.SHA256SUMS"
    ]


def test_a_changed_manifest_or_a_missing_signature_fails(
    cli: CLI, exported: tuple[Path, Path]
) -> None:
    _source_dir, archive = exported
    key = cli.run("export", "key", check=True).stdout.strip()
    sums = archive.with_name("keys.tar.MD5SUMS")
    sums.write_bytes(sums.read_bytes().replace(b"tls/", b"TLS/", 1))
    done = cli.run("export", "verify", str(archive), "--public-key", key, env=RECEIVER)
    assert done.returncode == 1
    assert "keys.tar.MD5SUMS differs from the signed one" in done.stderr
    archive.with_name("keys.tar.sig").unlink()
    done = cli.run("export", "verify", str(archive), "--public-key", key, env=RECEIVER)
    assert done.returncode == 1 and "has no signature" in done.stderr


def test_a_signature_by_another_repository_fails_against_the_pinned_key(
    cli: CLI, exported: tuple[Path, Path], tmp_path: Path
) -> None:
    source, archive = exported
    pinned = cli.run("export", "key", check=True).stdout.strip()
    other = {"KEYARK_REPOSITORY": str(tmp_path / "other-repo")}
    cli.run("init", env=other, check=True)
    cli.run("backup", str(source), env=other, check=True)
    forged = tmp_path / "forged.tar"
    cli.run("export", "latest", "--output", str(forged), "--sign", env=other, check=True)
    other_key = cli.run("export", "key", env=other, check=True).stdout.strip()
    assert other_key != pinned
    done = cli.run("export", "verify", str(forged), "--public-key", pinned, env=RECEIVER)
    assert done.returncode == 1
    assert f"is signed by {other_key}, not by the pinned key {pinned}" in done.stderr
    # and the other way round: this repository's archive against the other's key
    done = cli.run("export", "verify", str(archive), "--public-key", other_key, env=RECEIVER)
    assert done.returncode == 1 and "not by the pinned key" in done.stderr
    # unpinned, the signature verifies but the output says it was not pinned
    done = cli.run("export", "verify", str(forged), env=RECEIVER)
    assert done.returncode == 0 and "(not pinned)" in done.stdout
    assert "not checked against a pinned key" in done.stderr


def test_age_encrypted_export_decrypts_with_the_recipients_identity(
    cli: CLI, tmp_path: Path
) -> None:
    from pyrage import decrypt, x25519  # type: ignore[import-untyped]

    source = _source(tmp_path / "src")
    cli.run("init", check=True)
    cli.run("backup", str(source), check=True)
    identity = x25519.Identity.generate()
    archive = tmp_path / "keys.tar.gz.age"
    cli.run(
        "export",
        f"latest:{source}",
        "--output",
        str(archive),
        "--recipient",
        str(identity.to_public()),
        "--sign",
        check=True,
    )
    data = archive.read_bytes()
    assert data.startswith(b"age-encryption.org/v1\n") and b"MIIE" not in data
    assert _members(bytes(decrypt(data, [identity]))) == _files(source)
    sums = archive.with_name(archive.name + ".SHA256SUMS").read_bytes()
    assert b"server.key" not in sums  # the manifest names files: encrypted too
    assert b"server.key" in bytes(decrypt(sums, [identity]))
    key = cli.run("export", "key", check=True).stdout.strip()
    done = cli.run("export", "verify", str(archive), "--public-key", key, env=RECEIVER)
    assert done.returncode == 0 and "members not checked (encrypted)" in done.stdout
    identity_file = tmp_path / "identity.txt"
    identity_file.write_text(f"# created: now\n{identity}\n")
    args = ["export", "verify", str(archive), "--public-key", key]
    done = cli.run(*args, "--identity-file", str(identity_file), env=RECEIVER)
    assert done.returncode == 0 and "4 members match SHA256SUMS" in done.stdout, done.stderr
    assert str(identity) not in done.stdout + done.stderr


def test_each_format_holds_the_snapshot_and_verifies(cli: CLI, tmp_path: Path) -> None:
    source = _source(tmp_path / "src")
    cli.run("init", check=True)
    cli.run("backup", str(source), check=True)
    prefix = str(source).lstrip("/") + "/"
    for fmt in ("tar.gz", "tar.zst", "zip"):
        archive = tmp_path / f"keys.{fmt}"
        cli.run("export", "latest", "-o", str(archive), "--format", fmt, check=True)
        members = _members(archive.read_bytes())
        assert {name.removeprefix(prefix): data for name, data in members.items()} == _files(
            source
        ), fmt
        done = cli.run("export", "verify", str(archive), env=RECEIVER)
        assert done.returncode == 0, (fmt, done.stderr)
        assert "not signed" in done.stdout
    # exported again to the same name, unsigned and with fewer manifests: the earlier
    # export's signature and manifests do not stay beside the new archive
    again = tmp_path / "again.tar"
    cli.run("export", "latest", "-o", str(again), "--sign", "--checksums", "md5", check=True)
    cli.run("export", "latest", "-o", str(again), "--format", "tar", check=True)
    assert sorted(p.name for p in tmp_path.glob("again.tar*")) == [
        "again.tar",
        "again.tar.SHA256SUMS",
    ]


def test_a_failed_export_leaves_no_file_and_says_why_in_one_line(cli: CLI, tmp_path: Path) -> None:
    source = _source(tmp_path / "src")
    cli.run("init", check=True)
    cli.run("backup", str(source), check=True)
    out = tmp_path / "out"
    out.mkdir()
    done = cli.run("export", "latest", "-o", str(out / "k.tar"), "--recipient", "age1nope")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "keyark: 'age1nope' is not an age recipient (age1... as age-keygen -y prints)"
    ]
    from pyrage import x25519

    recipient = str(x25519.Identity.generate().to_public())
    for extra in ([], ["--recipient", recipient]):  # the failure inside the encrypting pipe
        done = cli.run("export", "latest:/no/such/dir", "-o", str(out / "k.tar"), "--sign", *extra)
        assert done.returncode == 1
        assert done.stderr.strip().splitlines() == [
            "keyark: path '/no/such/dir' is not in the snapshot"
        ]
    assert list(out.iterdir()) == []
    assert PASSWORD not in done.stderr


def test_an_interrupted_export_leaves_no_file(cli: CLI, tmp_path: Path) -> None:
    """SIGINT once the archive is part written (its temporary file has grown): exit 130,
    and neither the archive, its manifests, its signature nor the temporary file remain."""
    from pyrage import x25519

    source = tmp_path / "big"
    source.mkdir()
    (source / "blob.bin").write_bytes(os.urandom(16 * 1024 * 1024))  # incompressible
    cli.run("init", check=True)
    cli.run("backup", str(source), check=True)
    recipient = str(x25519.Identity.generate().to_public())
    for extra in ([], ["--recipient", recipient]):
        out = tmp_path / f"out{len(extra)}"
        out.mkdir()
        args = ["export", f"latest:{source}", "-o", str(out / "k.tar.gz"), "--sign", *extra]
        process = subprocess.Popen(
            [keyark_binary(), *args], env=cli.env, stderr=subprocess.PIPE, text=True
        )
        while not any(p.suffix == ".part" and p.stat().st_size > 65536 for p in out.iterdir()):
            assert process.poll() is None, "the export ended before it could be interrupted"
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=120)
        assert process.returncode == 130, err
        assert list(out.iterdir()) == []
