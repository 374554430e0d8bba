"""The key-slot operations of :mod:`keyark.keys` on real repositories (Python API)."""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import tests.hsm as softhsm_support
from tests.conftest import PASSWORD
from tests.hsm import AES_KEY, SoftHSM

from keyark import keys, ops
from keyark.crypto import shares
from keyark.crypto.hsm import Pkcs11Config
from keyark.errors import Hint, UsageError, WrongPasswordError
from keyark.ops.catalogue import describe_options
from keyark.repo.pack import DATA
from keyark.repo.repository import Repository

softhsm = softhsm_support.softhsm  # the session fixture


def repo_state(root: Path) -> dict[str, str]:
    """Every object's name and content hash (to prove a refusal changed nothing)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    location = str(tmp_path / "repo")
    created = ops.init_repository(location, PASSWORD.encode(), pack_size_mib=1)
    created.blobs.save_blob(DATA, b"secret key material")
    created.blobs.flush()
    created.close()
    yield location


def open_with(url: str, **sources: object) -> Repository:
    return ops.open_repository(url, keys.credentials(**sources))  # type: ignore[arg-type]


def read_back(repo: Repository) -> bytes:
    repo.blobs.load_index()
    blob_id = repo.blobs.hasher(b"secret key material")
    return repo.blobs.load_blob(blob_id)


def test_list_add_passphrase_pbkdf2(url: str) -> None:
    with open_with(url, passphrase=PASSWORD.encode()) as repo:
        first = keys.list_keys(repo)
        assert [(k.kind, k.current) for k in first] == [("passphrase", True)]
        assert first[0].details["kdf"] == "argon2id" and "salt" not in first[0].details
        added = keys.add_passphrase(repo, b"fips passphrase", "pbkdf2", label="fips")
    assert added.details == {"kdf": "pbkdf2-sha256", "iterations": 600_000}
    assert added.summary() == "pbkdf2-sha256, 600000 iterations" and added.label == "fips"
    with open_with(url, passphrase=b"fips passphrase") as repo:
        assert repo.keys.slot is not None and repo.keys.slot.slot_id == added.slot_id
        assert read_back(repo) == b"secret key material"
        listed = keys.list_keys(repo)
        assert [k.slot_id for k in listed if k.current] == [added.slot_id] and len(listed) == 2
        with pytest.raises(UsageError, match="empty passphrase"):
            keys.add_passphrase(repo, b"")


def test_key_file_slot(url: str, tmp_path: Path) -> None:
    key_path = tmp_path / "backup.key"
    with open_with(url, passphrase=PASSWORD.encode()) as repo:
        info = keys.add_key_file(repo, key_path, label="laptop")
        before = repo_state(Path(url))
        with pytest.raises(UsageError, match="already exists"):
            keys.add_key_file(repo, key_path)
        assert repo_state(Path(url)) == before
    assert info.kind == "keyfile" and stat.S_IMODE(key_path.stat().st_mode) == 0o600
    with open_with(url, key_file=key_path) as repo:
        assert repo.keys.slot is not None and repo.keys.slot.kind == "keyfile"
        assert read_back(repo) == b"secret key material"
    other = tmp_path / "other.key"
    with open_with(url, passphrase=PASSWORD.encode()) as repo:
        removed = keys.add_key_file(repo, other)
        keys.remove_key(repo, removed.slot_id)
    with pytest.raises(WrongPasswordError, match="the key file opens no key slot"):
        open_with(url, key_file=other)


def test_pkcs11_slot(url: str, softhsm: SoftHSM) -> None:
    config = Pkcs11Config(softhsm.module, softhsm.token, AES_KEY, softhsm.pin)
    with open_with(url, passphrase=PASSWORD.encode()) as repo:
        info = keys.add_pkcs11(repo, config, label="hsm")
    assert info.details["mechanism"] == "aes-key-wrap-pad" and "wrapped_kek" not in info.details
    with open_with(url, pkcs11=Pkcs11Config(softhsm.module, pin=softhsm.pin)) as repo:
        assert repo.keys.slot is not None and repo.keys.slot.slot_id == info.slot_id
        assert read_back(repo) == b"secret key material"
    before = repo_state(Path(url))
    bad_pin = Pkcs11Config(softhsm.module, pin="000000")
    with pytest.raises(WrongPasswordError, match="PKCS#11 PIN rejected"):
        open_with(url, pkcs11=bad_pin)
    assert repo_state(Path(url)) == before


def test_remove_rules(url: str, tmp_path: Path) -> None:
    with open_with(url, passphrase=PASSWORD.encode()) as repo:
        only = keys.list_keys(repo)[0]
        before = repo_state(Path(url))
        with pytest.raises(UsageError, match="is the last one"):
            keys.remove_key(repo, only.slot_id, force=True)
        with pytest.raises(UsageError, match="at least 4 characters"):
            keys.remove_key(repo, only.slot_id[:3])
        with pytest.raises(UsageError, match="no key slot ffff"):
            keys.remove_key(repo, "ffff" if not only.slot_id.startswith("ffff") else "eeee")
        assert repo_state(Path(url)) == before
        added = keys.add_key_file(repo, tmp_path / "k")
        with pytest.raises(UsageError, match="opened the repository now") as refused:
            keys.remove_key(repo, only.slot_id[:8])
        assert refused.value.hint == Hint.FORCE_REMOVE
        removed = keys.remove_key(repo, only.slot_id[:8], force=True)
        assert removed.slot_id == only.slot_id
        assert [k.slot_id for k in keys.list_keys(repo)] == [added.slot_id]
    with pytest.raises(WrongPasswordError):
        open_with(url, passphrase=PASSWORD.encode())
    with open_with(url, key_file=tmp_path / "k") as repo:
        assert read_back(repo) == b"secret key material"


def test_split_and_recover(url: str, tmp_path: Path) -> None:
    out = tmp_path / "shares"
    with open_with(url, passphrase=PASSWORD.encode()) as repo:
        result = keys.split(repo, 5, 3, out)
    assert result.threshold == 3 and len(result.files) == 5
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in result.files)
    assert result.files[0].name == "share-1-of-5.txt"
    texts = [keys.read_share_file(p) for p in result.files]
    assert texts == result.mnemonics
    assert result.key.details["identifier"] == result.identifier
    before = repo_state(Path(url))
    with pytest.raises(shares.RecoveryShareError, match="need 3 shares"):
        keys.recover(url, texts[:2], b"new passphrase")
    assert repo_state(Path(url)) == before
    recovered = keys.recover(url, [texts[4], texts[0], texts[2]], b"new passphrase")
    assert recovered.kind == "passphrase"
    with open_with(url, passphrase=b"new passphrase") as repo:
        assert read_back(repo) == b"secret key material"
        kinds = sorted(k.kind for k in keys.list_keys(repo))
    assert kinds == ["passphrase", "passphrase", "recovery"]


def test_shares_of_another_repository_are_refused(url: str, tmp_path: Path) -> None:
    other_url = str(tmp_path / "other")
    ops.init_repository(other_url, b"pw", pack_size_mib=1).close()
    with open_with(other_url, passphrase=b"pw") as other:
        foreign = keys.split(other, 3, 2)
    with open_with(url, passphrase=PASSWORD.encode()) as repo:
        keys.split(repo, 3, 2)
    before = repo_state(Path(url))
    with pytest.raises(shares.RecoveryShareError, match="belong to no recovery slot"):
        keys.recover(url, foreign.mnemonics[:2], b"new passphrase")
    assert repo_state(Path(url)) == before


def test_split_refuses_a_shared_out_dir_and_changes_nothing(url: str, tmp_path: Path) -> None:
    shared_dir = tmp_path / "public"
    shared_dir.mkdir(mode=0o755)
    shared_dir.chmod(0o755)
    before = repo_state(Path(url))
    with open_with(url, passphrase=PASSWORD.encode()) as repo:
        with pytest.raises(UsageError, match="accessible by group or others"):
            keys.split(repo, 3, 2, shared_dir)
        with pytest.raises(UsageError, match="threshold must be"):
            keys.split(repo, 2, 3, tmp_path / "x")
    assert repo_state(Path(url)) == before and list(shared_dir.iterdir()) == []
    assert not (tmp_path / "x").exists()


def test_change_passphrase_from_a_key_file_keeps_the_key_file(url: str, tmp_path: Path) -> None:
    with open_with(url, passphrase=PASSWORD.encode()) as repo:
        keys.add_key_file(repo, tmp_path / "k")
    with open_with(url, key_file=tmp_path / "k") as repo:
        info = keys.change_passphrase(repo, b"another", "pbkdf2")
        assert info.current and info.details["kdf"] == "pbkdf2-sha256"
        assert sorted(k.kind for k in keys.list_keys(repo)) == [
            "keyfile",
            "passphrase",
            "passphrase",
        ]


def test_secret_options_stay_out_of_the_catalogue_and_events() -> None:
    """New passphrases, PINs and shares are options no repr, description or event shows."""
    secret = "s3cret-value-h4"
    given = [
        ops.InitOptions(passphrase=secret.encode()),
        ops.KeyAddOptions(passphrase=secret.encode(), pkcs11_pin=secret),
        ops.KeyPasswdOptions(new_passphrase=secret.encode()),
        ops.KeyRecoverOptions(shares=[secret], new_passphrase=secret.encode()),
    ]
    for options in given:
        assert secret not in repr(options)
        assert secret not in repr(describe_options(options))
    for name in ("init", "key add", "key passwd", "key recover"):
        described = ops.CATALOGUE[name].describe()
        shown = {item["name"] for item in described["options"]}
        assert not shown & {"passphrase", "new_passphrase", "pkcs11_pin", "shares"}, name
    flags = {name: (entry.mutates, entry.reads_secrets) for name, entry in ops.CATALOGUE.items()}
    assert flags["key list"] == (False, False) and flags["key split"] == (True, True)
    assert flags["debug cat"] == (False, True) and flags["key rotate"] == (True, False)


def test_split_result_keeps_the_shares_out_of_its_dict(url: str) -> None:
    with open_with(url, passphrase=PASSWORD.encode()) as repo:
        result = keys.split(repo, 3, 2)
    document = result.to_dict()
    assert document["shares"] == 3
    assert set(document) == {"message_type", "slot", "identifier", "threshold", "shares"}
    assert result.mnemonics[0] not in repr(result)
