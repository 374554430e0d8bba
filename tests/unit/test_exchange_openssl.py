"""Decrypting ``openssl enc -aes-256-cbc`` files made by the real ``openssl`` binary.

Each derivation (``-pbkdf2``, legacy ``-md md5``, legacy default SHA-256) is checked
against files the binary wrote, found without being told which, and forced; a wrong
key file and a damaged file are refused with a clear error, never a wrong plaintext.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from keyark.errors import ArchiveDecryptionError, UsageError
from keyark.exchange.openssl import open_decrypted, read_password

#: The seed's encryption command (the derivation flags follow).
OPENSSL = ("openssl", "enc", "-aes-256-cbc", "-salt")

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

#: The openssl flags of each derivation.
FLAGS = {"pbkdf2": ["-pbkdf2"], "md5": ["-md", "md5"], "sha256": ["-md", "sha256"]}


def _tar_gz() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        data = os.urandom(70_000)  # several chunks of the stream reader
        info = tarfile.TarInfo("keys/master.key")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _encrypt(tmp_path: Path, plain: bytes, kdf: str, key_file: Path) -> bytes:
    source = tmp_path / "plain"
    source.write_bytes(plain)
    target = tmp_path / f"out.{kdf}.enc"
    subprocess.run(
        [
            *OPENSSL,
            *FLAGS[kdf],
            "-in",
            str(source),
            "-out",
            str(target),
            "-pass",
            f"file:{key_file}",
        ],
        check=True,
        capture_output=True,
    )
    return target.read_bytes()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "backup_master.key"
    path.write_bytes(b"c2VlZCBwYXNzd29yZCBvZiB0aGUgYmFja3Vw\nsecond line is ignored\n")
    return path


@pytest.mark.parametrize("kdf", sorted(FLAGS))
def test_each_derivation_is_found_and_decrypts_what_openssl_wrote(
    tmp_path: Path, key_file: Path, kdf: str
) -> None:
    plain = _tar_gz()
    encrypted = _encrypt(tmp_path, plain, kdf, key_file)
    password = read_password(str(key_file))
    found = open_decrypted(io.BytesIO(encrypted), password, None, "x.enc").read()
    forced = open_decrypted(io.BytesIO(encrypted), password, kdf, "x.enc").read()
    assert found == forced == plain


def test_a_plain_tar_is_recognised_by_its_header(tmp_path: Path, key_file: Path) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("a.key")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    encrypted = _encrypt(tmp_path, out.getvalue(), "md5", key_file)
    decrypted = open_decrypted(io.BytesIO(encrypted), read_password(str(key_file)), None, "x")
    assert decrypted.read() == out.getvalue()


def test_a_wrong_key_file_is_refused_not_decrypted_to_garbage(
    tmp_path: Path, key_file: Path
) -> None:
    encrypted = _encrypt(tmp_path, _tar_gz(), "pbkdf2", key_file)
    with pytest.raises(ArchiveDecryptionError, match="any of pbkdf2, md5, sha256"):
        open_decrypted(io.BytesIO(encrypted), b"not the password", None, "x.enc")
    # forced with the wrong derivation: the padding at the end gives it away
    with pytest.raises(ArchiveDecryptionError, match="bad padding"):
        open_decrypted(io.BytesIO(encrypted), read_password(str(key_file)), "md5", "x").read()


def test_a_file_not_in_openssl_format_or_cut_short_is_refused(
    tmp_path: Path, key_file: Path
) -> None:
    with pytest.raises(ArchiveDecryptionError, match="not an OpenSSL salted enc file"):
        open_decrypted(io.BytesIO(b"\x1f\x8b" + b"\0" * 64), b"pw", None, "x")
    encrypted = _encrypt(tmp_path, _tar_gz(), "pbkdf2", key_file)
    with pytest.raises(ArchiveDecryptionError, match="cut short"):
        open_decrypted(io.BytesIO(encrypted[: 16 + 40]), b"pw", None, "x")


def test_the_password_is_the_key_files_first_line_as_openssl_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_bytes(b"first\nsecond\n")
    assert read_password(str(path)) == b"first"
    path.write_bytes(b"")
    with pytest.raises(UsageError, match="empty"):
        read_password(str(path))
    with pytest.raises(UsageError, match="cannot read the key file"):
        read_password(str(tmp_path / "missing"))
