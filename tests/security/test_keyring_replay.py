"""Issue 8, sections 3 and 5: a replayed keyring cannot undo a revocation or rotation (D3/D4).

The attacker is a storage writer who saved the ``keyring`` object and puts it back
after ``agent revoke`` or ``key rotate``. Every keyring save raises its version and
a client remembers the highest version it has seen, so its next open is refused
with one line. Residual risk (stated in the README): a client with no memory of the
repository (a fresh cache directory, ``--no-cache``) accepts the replayed keyring.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import CLI

from keyark.crypto import keyring as keyring_module
from keyark.crypto.envelope import SymmetricKey
from keyark.crypto.keyring import Keyring
from keyark.errors import FormatError, IntegrityError


def _one_error_line(result: object) -> str:
    stderr = getattr(result, "stderr", "")
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("keyark: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("change", ["key rotate", "agent revoke"])
def test_replayed_keyring_is_refused(cli: CLI, tmp_path: Path, change: str) -> None:
    cli.run("init", check=True)
    if change == "agent revoke":
        cli.run("agent", "add", "web1", "--out", str(tmp_path / "web1.cred"), check=True)
    listed = cli.run("snapshots", "--json", check=True)  # this client remembers the keyring
    assert json.loads(listed.stdout) == []
    saved = (cli.repo / "keyring").read_bytes()
    if change == "agent revoke":
        cli.run("agent", "revoke", "web1", check=True)
    else:
        cli.run("key", "rotate", check=True)
    newest = (cli.repo / "keyring").read_bytes()
    # Positive control: the same client opens the genuine, newer keyring.
    assert cli.run("snapshots").returncode == 0

    for name in ("keyring", "keyring.bak"):  # the replay, of the keyring and its copy
        (cli.repo / name).write_bytes(saved)
    refused = cli.run("snapshots")
    assert refused.returncode == 1
    line = _one_error_line(refused)
    assert "older than version" in line and "replaying an old keyring" in line, line
    # Any other command that opens the repository is refused the same way.
    assert cli.run("key", "list").returncode == 1

    # Residual risk: a client with no memory of the repository accepts the old keyring.
    fresh = cli.run("snapshots", env={"KEYARK_CACHE_DIR": str(tmp_path / "fresh-cache")})
    assert fresh.returncode == 0, fresh.stderr

    # Nothing genuine is lost: with the newest keyring back, the client opens again.
    for name in ("keyring", "keyring.bak"):
        (cli.repo / name).write_bytes(newest)
    assert cli.run("snapshots").returncode == 0


def test_every_keyring_save_raises_the_version(cli: CLI) -> None:
    from tests.conftest import PASSWORD

    from keyark import ops
    from keyark.crypto.slots import Credentials

    cli.run("init", check=True)
    with ops.open_repository(
        str(cli.repo), Credentials(passphrase=PASSWORD.encode()), cache_dir=cli.cache
    ) as repo:
        first = repo.keys.keyring.version
        repo.keys.save_keyring()
        repo.keys.save_keyring()
        assert repo.keys.keyring.version == first + 2
        assert repo.keys.trust is not None and repo.keys.trust.keyring_version == first + 2
    with ops.open_repository(
        str(cli.repo), Credentials(passphrase=PASSWORD.encode()), cache_dir=cli.cache
    ) as repo:
        assert repo.keys.keyring.version == first + 2


def _mutations(document: dict[str, object]) -> list[dict[str, object]]:
    hostile: list[object] = [None, True, -1, 2**64 - 1, "x", b"", b"\0" * 33, [], {}, 1.5]
    out = []
    for field in document:
        for value in hostile:
            out.append({**document, field: value})
        out.append({k: v for k, v in document.items() if k != field})
    entry = document["data_keys"][0]  # type: ignore[index]
    for field in entry:
        for value in hostile:
            out.append({**document, "data_keys": [{**entry, field: value}]})
    out.append({**document, "data_keys": [entry, entry]})
    out.append({**document, "data_keys": [{**entry, "state": "retired"}]})
    return out


def test_keyring_parser_refuses_hostile_fields() -> None:
    """Every field is checked on parse: only FormatError, never another exception."""
    import msgpack

    keyring = Keyring.create()
    document = msgpack.unpackb(keyring.to_bytes(), raw=False)
    assert Keyring.from_bytes(keyring.to_bytes()).version == keyring.version  # control
    refused = 0
    for mutated in _mutations(document):
        try:
            Keyring.from_bytes(msgpack.packb(mutated, use_bin_type=True))
        except FormatError:
            refused += 1
    assert refused >= len(_mutations(document)) - 3  # only harmless values (extra = {}) parse
    with pytest.raises(IntegrityError):
        Keyring.open(SymmetricKey(b"\0" * 8, b"\0" * 32), b"KA" + b"\0" * 60)
    assert keyring_module.MAX_DATA_KEYS >= 1000
