"""Issue 9, section 2: one damaged byte in ``config`` or ``keyring`` never loses a repository.

Each is stored twice (``config.bak``, ``keyring.bak``). A damaged primary is skipped
with one warning line naming it and the repair command, and ``keyark repair config``
/ ``keyark repair keyring`` rewrite it. Both damaged is one clear error. The copy is
no way to roll back: a replayed old keyring is still refused by a client that saw a
newer one. A damaged slot never blocks another, and a crash between the two writes
of a save leaves an openable repository.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from tests.conftest import CLI, PASSWORD

from keyark import ops
from keyark.backends.base import Capabilities
from keyark.backends.local import LocalBackend
from keyark.crypto.slots import Credentials, passphrase_slot
from keyark.errors import (
    FormatError,
    Hint,
    PermanentBackendError,
    TransientBackendError,
    WrongPasswordError,
)
from keyark.maintenance.repair_state import repair_state
from keyark.maintenance.rotate import rotate
from keyark.repo import state_copies
from keyark.repo.repository import Repository

CREDS = Credentials(passphrase=PASSWORD.encode())
OTHER = "another passphrase for the second slot"


def flip(path: Path, at: float = 0.5) -> None:
    """Flip one bit of the byte at fraction ``at`` of the file."""
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0x01
    path.write_bytes(bytes(data))


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "WARNING" in line]


def _repair_hint(record: logging.LogRecord) -> bool:
    """Whether the log record names a repair of config or keyring as its hint."""
    return getattr(record, "hint", None) in (Hint.REPAIR_CONFIG, Hint.REPAIR_KEYRING)


@pytest.fixture
def populated(cli: CLI, tmp_path: Path) -> CLI:
    cli.run("init", check=True)
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("kept\n")
    cli.run("backup", str(source), check=True)
    return cli


@pytest.mark.parametrize("name", ["config", "keyring"])
def test_one_damaged_byte_uses_the_copy_and_repair_rewrites_it(
    populated: CLI, tmp_path: Path, name: str
) -> None:
    cli = populated
    clean = cli.run("snapshots", "--json", check=True)
    assert warnings_in(clean.stderr) == []  # positive control: no warning when intact
    assert (cli.repo / f"{name}.bak").read_bytes() == (cli.repo / name).read_bytes()
    flip(cli.repo / name)

    listed = cli.run("snapshots", "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 1
    (line,) = warnings_in(listed.stderr)
    assert f"'{name}'" in line and f"keyark repair {name}" in line, line
    restored = cli.run("restore", "latest", "--target", str(tmp_path / "out"))
    assert restored.returncode == 0, restored.stderr
    assert list((tmp_path / "out").rglob("a.txt"))
    # Writers work too (they re-read the keyring and config under their lock).
    assert cli.run("backup", str(tmp_path / "src")).returncode == 0

    repaired = cli.run("repair", name)
    assert repaired.returncode == 0, repaired.stderr
    assert f"rewrote '{name}'" in repaired.stdout
    assert (cli.repo / name).read_bytes() == (cli.repo / f"{name}.bak").read_bytes()
    after = cli.run("repair", "config", check=True)
    assert warnings_in(after.stderr) == []
    assert "nothing was changed" in after.stdout


def _init(path: Path) -> None:
    ops.init_repository(str(path), PASSWORD.encode(), pack_size_mib=1).close()


def test_unparsable_config_and_damaged_copies_are_reported_and_repaired(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, cache = tmp_path / "repo", tmp_path / "cache"
    _init(path)
    flip(path / "config", 0.0)  # '{' -> 'z': not JSON at all
    flip(path / "keyring.bak")
    with caplog.at_level(logging.WARNING, logger="keyark"):
        with _open(path, cache) as repo:
            summary = repair_state(repo)
    repairs = [record for record in caplog.records if _repair_hint(record)]
    named = {r.getMessage().split("'")[1]: getattr(r, "hint", None) for r in repairs}
    assert named == {"config": Hint.REPAIR_CONFIG, "keyring.bak": Hint.REPAIR_KEYRING}, named
    assert sorted(summary.rewritten) == ["config", "keyring.bak"]
    for name in ("config", "keyring"):
        assert (path / name).read_bytes() == (path / f"{name}.bak").read_bytes()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="keyark"):
        _open(path, tmp_path / "other-cache").close()
    assert not [r for r in caplog.records if _repair_hint(r)]


@pytest.mark.parametrize("name", ["config", "keyring"])
def test_both_copies_damaged_is_one_clear_error(cli: CLI, name: str) -> None:
    cli.run("init", check=True)
    flip(cli.repo / name)
    assert cli.run("snapshots").returncode == 0  # positive control: one copy suffices
    flip(cli.repo / f"{name}.bak")
    failed = cli.run("snapshots")
    assert failed.returncode != 0
    assert "Traceback" not in failed.stderr
    errors = [line for line in failed.stderr.splitlines() if "WARNING" not in line]
    assert len(errors) == 1 and name in errors[0], failed.stderr


def test_agent_uses_the_config_copy(populated: CLI, tmp_path: Path) -> None:
    cli = populated
    credential = tmp_path / "web1.cred"
    cli.run("agent", "add", "web1", "--out", str(credential), check=True)
    flip(cli.repo / "config", 0.5)
    result = cli.run(
        "backup", str(tmp_path / "src"), env={"KEYARK_AGENT_CREDENTIAL": str(credential)}
    )
    assert result.returncode == 0, result.stderr
    (line,) = warnings_in(result.stderr)
    assert "'config'" in line and "keyark repair config" in line


def test_replayed_old_keyring_copy_is_still_refused(populated: CLI, tmp_path: Path) -> None:
    cli = populated
    old = (cli.repo / "keyring").read_bytes()
    cli.run("key", "rotate", check=True)
    cli.run("snapshots", check=True)  # this client remembers the newer version
    newest = (cli.repo / "keyring").read_bytes()
    # The primary damaged and the copy replayed from before the rotation.
    (cli.repo / "keyring.bak").write_bytes(old)
    flip(cli.repo / "keyring")
    refused = cli.run("snapshots")
    assert refused.returncode == 1
    assert "older than version" in refused.stderr, refused.stderr
    # Both replayed: refused the same way.
    (cli.repo / "keyring").write_bytes(old)
    assert "older than version" in cli.run("snapshots").stderr
    # Positive control: a client with no memory accepts it (the replay is well-formed).
    fresh = cli.run("snapshots", env={"KEYARK_CACHE_DIR": str(tmp_path / "fresh")})
    assert fresh.returncode == 0, fresh.stderr
    # A newer copy next to an old primary wins (highest version), without any error.
    (cli.repo / "keyring.bak").write_bytes(newest)
    assert cli.run("snapshots").returncode == 0


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_slot_never_blocks_another(tmp_path: Path, damage: str) -> None:
    path, cache = tmp_path / "repo", tmp_path / "cache"
    _init(path)
    (original,) = (path / "keys").iterdir()
    with _open(path, cache) as repo:
        assert repo.keys.root_key is not None
        repo.keys.add_slot(passphrase_slot(repo.keys.root_key, OTHER.encode(), "argon2id"))
    if damage == "flip":
        flip(original)
    else:
        original.write_bytes(original.read_bytes()[: original.stat().st_size // 2])
    other = Credentials(passphrase=OTHER.encode())
    ops.open_repository(str(path), other, cache_dir=cache).close()
    # Positive control: the damaged slot really is unusable.
    with pytest.raises(WrongPasswordError):
        _open(path, cache)


class FailPut(LocalBackend):
    """Fails every PUT of one object name (a crash right before that write)."""

    def __init__(self, root: Path, name: str) -> None:
        super().__init__(root)
        self.name = name
        self.puts: list[str] = []

    def put(self, name: str, data: bytes, *, overwrite: bool = False) -> None:
        self.puts.append(name)
        if name == self.name:
            raise PermanentBackendError("injected crash")
        super().put(name, data, overwrite=overwrite)


def _open(path: Path, cache: Path) -> Repository:
    return ops.open_repository(str(path), CREDS, cache_dir=cache)


@contextmanager
def _crash_on_put(repo: Repository, path: Path, name: str) -> Iterator[tuple[Repository, FailPut]]:
    """Within: ``repo``'s keys and config open on a backend that crashes on a PUT of
    ``name`` (the repository given, the backend), and the body must fail with that crash."""
    failing = FailPut(path, name)
    crashing = Repository(
        failing, repo.config, repo.keys.keyring, repo.keys.root_key, repo.keys.slot
    )
    with pytest.raises(PermanentBackendError):
        yield crashing, failing


@pytest.mark.parametrize("second", ["keyring", "keyring.bak"])
def test_crash_between_the_keyring_writes_leaves_an_openable_repository(
    tmp_path: Path, second: str
) -> None:
    path, cache = tmp_path / "repo", tmp_path / "cache"
    _init(path)
    with _open(path, cache) as repo:
        before = repo.keys.keyring.version
        with _crash_on_put(repo, path, second) as (crashing, failing):
            rotate(crashing)
    assert "keyring.bak" in failing.puts  # the keyring was being saved
    with _open(path, cache) as repo:
        # The copy is written first: a crash before the primary leaves the new state.
        expected = before + 1 if second == "keyring" else before
        assert repo.keys.keyring.version == expected
    assert (path / "keyring").exists() and (path / "keyring.bak").exists()


@pytest.mark.parametrize("second", ["config", "config.bak"])
def test_crash_between_the_config_writes_leaves_an_openable_repository(
    tmp_path: Path, second: str
) -> None:
    path, cache = tmp_path / "repo", tmp_path / "cache"
    _init(path)
    with _open(path, cache) as repo:
        repo.config.policies["note"] = "changed"
        with _crash_on_put(repo, path, second) as (crashing, _failing):
            crashing.save_config()
    with _open(path, cache) as repo:  # the primary still verifies: the old state
        assert "note" not in repo.config.policies


def test_copies_are_written_before_their_primaries(tmp_path: Path) -> None:
    recorder = FailPut(tmp_path / "repo", "-none-")
    Repository.init(recorder, PASSWORD.encode(), kdf="argon2id").close()
    names = [n for n in recorder.puts if not n.startswith("keys/")]
    assert names == ["keyring.bak", "keyring", "config.bak", "config"]


def test_copy_with_other_backend_settings_than_the_damaged_primary_is_refused(
    tmp_path: Path,
) -> None:
    """The backend is opened with the primary's settings: the copy may not differ there."""
    path, cache = tmp_path / "repo", tmp_path / "cache"
    lock = {"backend_settings": {"s3_object_lock_days": 1}}
    Repository.init(LocalBackend(path), PASSWORD.encode(), public=lock).close()
    _open(path, cache).close()  # positive control: intact, it opens
    document = json.loads((path / "config").read_bytes())
    document["public"].pop("backend_settings")  # storage drops Object Lock from the primary
    (path / "config").write_text(json.dumps(document))
    with pytest.raises(FormatError, match=r"config\.bak"):
        _open(path, tmp_path / "fresh-cache")


class NoAtomicReplace(LocalBackend):
    """Declares no atomic replace; a put of ``lossy`` stores a truncated object."""

    def __init__(self, root: Path, lossy: str = "") -> None:
        super().__init__(root)
        self.lossy = lossy

    def capabilities(self) -> Capabilities:
        return replace(super().capabilities(), atomic_replace=False)

    def put(self, name: str, data: bytes, *, overwrite: bool = False) -> None:
        super().put(name, data[:-1] if name == self.lossy else data, overwrite=overwrite)


def test_without_atomic_replace_the_primary_waits_for_a_verified_copy(tmp_path: Path) -> None:
    path = tmp_path / "repo"
    _init(path)
    before = (path / "keyring").read_bytes()
    state_copies.write_keyring(NoAtomicReplace(path), b"new keyring")  # positive control
    assert (path / "keyring").read_bytes() == (path / "keyring.bak").read_bytes() == b"new keyring"
    (path / "keyring").write_bytes(before)
    with pytest.raises(TransientBackendError, match=r"'keyring\.bak' did not read back"):
        state_copies.write_keyring(NoAtomicReplace(path, "keyring.bak"), b"newer keyring")
    assert (path / "keyring").read_bytes() == before  # not put at risk
