"""Issue 8, section 5: a config edited in storage is refused, sizes are bounded (design D2/D3).

The attacker is a storage writer (or an agent: it holds the id key, not the config
signing key). Each test edits ``config`` the way the review did and checks that
opening is refused with one line, and nothing is written; a positive control
shows the untouched repository opens.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from tests.conftest import CLI, PASSWORD

from keyark import ops
from keyark.backends.local import LocalBackend
from keyark.crypto.slots import Credentials
from keyark.errors import FormatError, Hint, TrustError
from keyark.repo.config import SIGNATURE_CONTEXT, RepoConfig, canonical_json
from keyark.repo.repository import Repository

CREDS = Credentials(passphrase=PASSWORD.encode())
LOCK = {"backend_settings": {"s3_object_lock_days": 1}}


def make_repo(tmp_path: Path, public: Mapping[str, object] | None = None) -> Path:
    path = tmp_path / "repo"
    Repository.init(LocalBackend(path), PASSWORD.encode(), public=public).close()
    return path


def open_repo(path: Path, cache: Path) -> Repository:
    return ops.open_repository(str(path), CREDS, cache_dir=cache)


def edit_config(path: Path, change: Any) -> None:
    document = json.loads((path / "config").read_bytes())
    change(document)
    for name in ("config", "config.bak"):  # storage edits the config and its copy (issue 9)
        (path / name).write_text(json.dumps(document))


def sign_as_full_key_holder(path: Path, document: dict[str, Any]) -> None:
    """Re-sign an edited document with the real config key (what no attacker can do)."""
    with open_repo(path, path.parent / "signer-cache") as repo:
        signing_key = repo.keys.keyring.config_signing_key
    document.pop("signature", None)
    private = ed25519.Ed25519PrivateKey.from_private_bytes(signing_key)
    document["signature"] = private.sign(SIGNATURE_CONTEXT + canonical_json(document)).hex()
    for name in ("config", "config.bak"):
        (path / name).write_text(json.dumps(document))


def assert_one_line(
    error: pytest.ExceptionInfo[BaseException], *words: str, what: str = "config"
) -> None:
    message = str(error.value)
    assert "\n" not in message and what in message
    for word in words:
        assert word in message


EDITS = {
    "id": lambda d: d.update(id="0" * 64),
    "profile": lambda d: d.update(profile="fips"),
    "created": lambda d: d.update(created="1999-01-01T00:00:00+00:00"),
    "pack_size": lambda d: d.update(pack_size=2 * 1024 * 1024),
    "chunker": lambda d: d["chunker"].update(min=128 * 1024),
    "blob_id": lambda d: d.update(blob_id="hmac-sha256"),
    "public": lambda d: d["public"].update(backend_settings={}),
    "sealed": lambda d: d.update(sealed=d["sealed"][:-2] + "00"),
    "signature": lambda d: d.pop("signature"),
    "extra field": lambda d: d.update(surprise=1),
}


@pytest.mark.parametrize("field", sorted(EDITS))
def test_every_edited_field_is_refused(tmp_path: Path, field: str) -> None:
    path = make_repo(tmp_path)
    with open_repo(path, tmp_path / "cache") as repo:  # positive control
        assert repo.config.pack_size == 16 * 1024 * 1024
    before = sorted(p.name for p in path.rglob("*"))
    edit_config(path, EDITS[field])
    with pytest.raises(FormatError) as error:
        open_repo(path, tmp_path / "cache")
    assert_one_line(error)
    assert sorted(p.name for p in path.rglob("*")) == before  # nothing written


def test_object_lock_removed_in_storage_is_refused(tmp_path: Path) -> None:
    path = make_repo(tmp_path, LOCK)
    cache = tmp_path / "cache"
    with open_repo(path, cache) as repo:
        assert repo.config.object_lock
    remembered = json.loads(next((cache / "trust").iterdir()).read_text())
    assert remembered["object_lock"] is True  # the client remembers it
    edit_config(path, lambda d: d["public"].pop("backend_settings"))
    with pytest.raises(FormatError) as error:
        open_repo(path, cache)
    assert_one_line(error, "signature")
    with pytest.raises(FormatError):  # even a client with no memory refuses the edit
        open_repo(path, tmp_path / "fresh-cache")


def test_replayed_config_without_object_lock_is_refused_by_a_client_that_saw_it(
    tmp_path: Path,
) -> None:
    path = make_repo(tmp_path)
    cache = tmp_path / "cache"
    open_repo(path, cache).close()
    old = (path / "config").read_bytes()  # validly signed, no Object Lock
    with open_repo(path, cache) as repo:
        repo.config.public.update(LOCK)
        repo.save_config()
    with open_repo(path, cache) as repo:
        assert repo.config.object_lock
    (path / "config").write_bytes(old)  # storage replays the older, signed config
    with pytest.raises(TrustError) as error:
        open_repo(path, cache)
    assert_one_line(error, "Object Lock")
    # Residual risk (documented): a client with no memory cannot tell.
    open_repo(path, tmp_path / "fresh-cache").close()


@pytest.mark.parametrize(
    "change",
    [
        {"pack_size": 1024**4},  # 1 TiB: was 857 MB of memory for a 400 MB backup
        {"pack_size": 0},
        {"pack_size": "16777216"},
        {"pack_size": True},
        {"chunker": {"algorithm": "fastcdc", "min": 1, "avg": 2, "max": 3}},
        {"chunker": {"algorithm": "fastcdc", "min": 1048576, "avg": 524288, "max": 8388608}},
        {"chunker": {"algorithm": "fastcdc", "min": 524288, "avg": 1048576, "max": 2**40}},
        {"chunker": {"algorithm": "fastcdc", "min": 524288, "avg": 1048576.5, "max": 8388608}},
        {"chunker": {"algorithm": "fastcdc", "min": 524288, "avg": 524288, "max": 8388608}},
        {"chunker": {"algorithm": "rabin", "min": 524288, "avg": 1048576, "max": 8388608}},
        {"chunker": "fastcdc"},
        {"profile": "nonsense"},
        {"public": []},
        {"id": 7},
    ],
)
def test_out_of_bounds_values_are_format_errors_even_when_signed(
    tmp_path: Path, change: dict[str, Any]
) -> None:
    path = make_repo(tmp_path)
    document = json.loads((path / "config").read_bytes())
    document.update(change)
    sign_as_full_key_holder(path, document)
    with pytest.raises(FormatError) as error:
        open_repo(path, tmp_path / "cache")
    assert_one_line(error)


def test_signed_in_bounds_change_is_accepted(tmp_path: Path) -> None:
    """Positive control for the test above: the signing helper makes valid configs."""
    path = make_repo(tmp_path)
    document = json.loads((path / "config").read_bytes())
    document["pack_size"] = 4 * 1024 * 1024
    sign_as_full_key_holder(path, document)
    with open_repo(path, tmp_path / "cache") as repo:
        assert repo.config.pack_size == 4 * 1024 * 1024


def test_agent_pinned_key_verifies_and_rejects(tmp_path: Path) -> None:
    path = make_repo(tmp_path)
    data = (path / "config").read_bytes()
    with open_repo(path, tmp_path / "cache") as repo:
        id_key, public = repo.keys.keyring.id_key, repo.keys.keyring.config_public_key
    assert RepoConfig.from_bytes(data, id_key, public).repo_id
    other = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    with pytest.raises(FormatError, match="signature"):
        RepoConfig.from_bytes(data, id_key, other)


def test_version_1_config_gives_one_clear_line(tmp_path: Path) -> None:
    path = make_repo(tmp_path)
    edit_config(path, lambda d: d.update(version=1))
    with pytest.raises(FormatError) as error:
        open_repo(path, tmp_path / "cache")
    assert_one_line(error, "version 1", what="repository format")
    assert isinstance(error.value, FormatError) and error.value.hint is Hint.REINIT


def test_version_1_config_on_the_command_line(cli: CLI) -> None:
    cli.run("init", check=True)
    edit_config(cli.repo, lambda d: d.update(version=1))
    result = cli.run("snapshots")
    assert result.returncode != 0
    assert "version 1" in result.stderr and "keyark init" in result.stderr
    assert "Traceback" not in result.stderr
