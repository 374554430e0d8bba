"""The agent's local cache keeps no content ids of files it no longer holds (issue 8 §9).

The review's attack: on a compromised agent host, the attacker holds the id key
(from the agent credential) and the agent's cache. After a ``.env`` password was
rotated, hashing candidate old contents with the id key and looking the ids up
in the cache confirmed the old password in 6 guesses. Here the attacker's
"lookup" is a byte search of every file in the cache directory for the old
content's blob id.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from tests.conftest import CLI, PASSWORD, keyark_binary

from keyark import ops
from keyark.crypto.slots import Credentials

OLD = b"DB_PASSWORD=winter2023!\nAPI_URL=https://internal\n"
NEW = b"DB_PASSWORD=spring2024?\nAPI_URL=https://internal\n"


def _as_agent(cli: CLI, credential: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(cli.env, KEYARK_AGENT_CREDENTIAL=str(credential))
    env.pop("KEYARK_PASSWORD")
    return subprocess.run(
        [keyark_binary(), *args], env=env, capture_output=True, text=True, check=False
    )


def _blob_id(cli: CLI, content: bytes) -> bytes:
    """The id the attacker computes for a guess (same id key as in the agent credential)."""
    with ops.open_repository(str(cli.repo), Credentials(passphrase=PASSWORD.encode())) as repo:
        return repo.blobs.hasher(content)


def _cache_bytes(cache: Path) -> bytes:
    """Everything stored under the cache directory (databases, journals, anything)."""
    return b"".join(p.read_bytes() for p in sorted(cache.rglob("*")) if p.is_file())


@pytest.fixture
def agent(cli: CLI, tmp_path: Path) -> Path:
    cli.run("init", check=True)
    credential = tmp_path / "web1.cred"
    cli.run("agent", "add", "web1", "--out", str(credential), check=True)
    return credential


def test_changed_file_leaves_no_old_content_id(cli: CLI, agent: Path, tmp_path: Path) -> None:
    source = tmp_path / "app"
    source.mkdir()
    env_file = source / ".env"
    env_file.write_bytes(OLD)
    (source / "unchanged.conf").write_bytes(b"listen 443\n")
    old_id, new_id = _blob_id(cli, OLD), _blob_id(cli, NEW)
    keep_id = _blob_id(cli, b"listen 443\n")

    first = _as_agent(cli, agent, "backup", str(source))
    assert first.returncode == 0, first.stderr
    # positive control: the attack works on the cache as written by the first run
    assert old_id in _cache_bytes(cli.cache)

    env_file.write_bytes(NEW)
    os.utime(env_file, ns=(1, 1))  # metadata certainly differs
    second = _as_agent(cli, agent, "backup", str(source))
    assert second.returncode == 0, second.stderr
    cached = _cache_bytes(cli.cache)
    assert old_id not in cached
    assert new_id in cached and keep_id in cached  # dedup of what it holds still works


def test_vanished_file_leaves_no_content_id(cli: CLI, agent: Path, tmp_path: Path) -> None:
    source = tmp_path / "app"
    source.mkdir()
    (source / ".env").write_bytes(OLD)
    (source / "other").write_bytes(b"other\n")
    old_id = _blob_id(cli, OLD)
    assert _as_agent(cli, agent, "backup", str(source)).returncode == 0
    assert old_id in _cache_bytes(cli.cache)

    (source / ".env").unlink()
    assert _as_agent(cli, agent, "backup", str(source)).returncode == 0
    assert old_id not in _cache_bytes(cli.cache)


def test_unchanged_agent_backup_still_dedups(cli: CLI, agent: Path, tmp_path: Path) -> None:
    """Forgetting changed files must not cost the dedup of unchanged ones."""
    source = tmp_path / "app"
    source.mkdir()
    (source / ".env").write_bytes(OLD)
    assert _as_agent(cli, agent, "backup", str(source)).returncode == 0
    again = _as_agent(cli, agent, "backup", str(source), "--json")
    assert again.returncode == 0, again.stderr
    assert '"files_unchanged": 1' in again.stdout and '"data_blobs": 0' in again.stdout
