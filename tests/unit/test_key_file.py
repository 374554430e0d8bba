"""Key files: created 0600 and never overwritten, refused when others can read them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from keyark.crypto import keyfile
from keyark.crypto.envelope import new_key
from keyark.crypto.slots import Credentials, passphrase_slot, unlock
from keyark.errors import UsageError, WrongPasswordError


def test_create_is_private_random_and_exclusive(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        secret = keyfile.create_key_file(tmp_path / "k")
    finally:
        os.umask(old)
    info = (tmp_path / "k").stat()
    assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_size == 32
    assert (tmp_path / "k").read_bytes() == secret
    assert keyfile.load_key_file(tmp_path / "k") == secret
    assert keyfile.create_key_file(tmp_path / "k2") != secret
    with pytest.raises(UsageError, match="already exists; refusing to overwrite"):
        keyfile.create_key_file(tmp_path / "k")
    assert (tmp_path / "k").read_bytes() == secret


def test_create_refuses_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "target").write_bytes(b"keep")
    os.symlink(tmp_path / "target", tmp_path / "link")
    with pytest.raises(UsageError):
        keyfile.create_key_file(tmp_path / "link")
    assert (tmp_path / "target").read_bytes() == b"keep"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o644])
def test_load_refuses_files_others_can_access(tmp_path: Path, mode: int) -> None:
    keyfile.create_key_file(tmp_path / "k")
    os.chmod(tmp_path / "k", mode)
    with pytest.raises(UsageError, match=f"accessible by group or others \\(mode {mode:04o}\\)"):
        keyfile.load_key_file(tmp_path / "k")


def test_load_refuses_wrong_size_missing_and_directories(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_bytes(b"x" * 31)
    short.chmod(0o600)
    with pytest.raises(UsageError, match="not a keyark key file \\(32 bytes expected, found 31\\)"):
        keyfile.load_key_file(short)
    long = tmp_path / "long"
    long.write_bytes(b"x" * 64)
    long.chmod(0o600)
    with pytest.raises(UsageError, match="found more"):
        keyfile.load_key_file(long)
    with pytest.raises(UsageError, match=r"cannot read key file .*No such file"):
        keyfile.load_key_file(tmp_path / "missing")
    (tmp_path / "dir").mkdir(mode=0o700)
    with pytest.raises(UsageError, match="not a regular file"):
        keyfile.load_key_file(tmp_path / "dir")


def test_key_file_slot_opens_only_with_its_file(tmp_path: Path) -> None:
    root = new_key()
    secret = keyfile.create_key_file(tmp_path / "k")
    slot = keyfile.key_file_slot(root, secret, "laptop")
    assert slot.kind == "keyfile" and slot.label == "laptop"
    assert secret.hex() not in slot.to_bytes().decode()
    other_slot = passphrase_slot(root, b"pw", "pbkdf2-sha256")
    opened, used = unlock(
        [other_slot, slot], Credentials(unlockers={"keyfile": keyfile.unlocker(secret)})
    )
    assert opened == root and used is slot
    wrong = Credentials(unlockers={"keyfile": keyfile.unlocker(os.urandom(32))})
    with pytest.raises(WrongPasswordError, match="the key file opens no key slot"):
        unlock([other_slot, slot], wrong)
    with pytest.raises(WrongPasswordError, match="accepts the key file"):
        unlock([other_slot], wrong)


def test_kek_depends_on_salt_and_secret() -> None:
    secret = os.urandom(32)
    a = keyfile.derive_kek(secret, b"1" * 16)
    assert a == keyfile.derive_kek(secret, b"1" * 16)
    assert a != keyfile.derive_kek(secret, b"2" * 16)
    assert a != keyfile.derive_kek(os.urandom(32), b"1" * 16)
    assert len(a) == 32 and a != secret
