"""Which unindexed packs a full-key writer adopts (issue 9 section 3, design D7).

Adopted: complete packs (SHA-256 matches the name) whose header a keyring data key
sealed. Never adopted: damaged or truncated packs, and packs an agent wrote (session
key), however complete. The index file is durable before anything can dedup.
Each refusal has a positive control: a good full-key pack in the same repository is
adopted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import PASSWORD, warning_context

from keyark import agents, ops
from keyark.crypto.slots import Credentials
from keyark.errors import PermanentBackendError
from keyark.repo.adoption import adopt_unindexed
from keyark.repo.agent_session import AgentRepository
from keyark.repo.pack import DATA, pack_name
from keyark.repo.pack_store import PackStore
from keyark.repo.repository import Repository

CREDS = Credentials(passphrase=PASSWORD.encode())


@pytest.fixture
def url(tmp_path: Path) -> str:
    location = str(tmp_path / "repo")
    ops.init_repository(location, PASSWORD.encode(), pack_size_mib=1).close()
    return location


@pytest.fixture
def repo(url: str, tmp_path: Path) -> Iterator[Repository]:
    opened = ops.open_repository(url, CREDS, cache_dir=tmp_path / "cache")
    yield opened
    opened.close()


def _orphan(repo: Repository | AgentRepository, data: bytes) -> tuple[bytes, bytes]:
    """What a killed writer leaves: one uploaded pack, no index file. (pack id, blob id)"""
    before = set(repo.stored_packs())
    packer = repo.blobs.packer()
    packer._maybe_write_index = lambda force=False: None  # type: ignore[method-assign]
    blob_id, _added = repo.blobs.save_blob(DATA, data)
    repo.blobs.flush()
    repo.blobs.close()  # the packer goes: the next write starts a fresh one
    (pack_id,) = set(repo.stored_packs()) - before
    return pack_id, blob_id


def _fresh(url: str, tmp_path: Path) -> Repository:
    return ops.open_repository(url, CREDS, cache_dir=tmp_path / "cache")


def test_adopts_a_complete_full_key_pack(url: str, repo: Repository, tmp_path: Path) -> None:
    pack_id, blob_id = _orphan(repo, os.urandom(5000))
    with _fresh(url, tmp_path) as writer:
        writer.blobs.load_index()
        assert not writer.blobs.has_blob(blob_id), "positive control: the pack is unindexed"
        done = adopt_unindexed(writer)
        assert (done.unindexed, done.packs, len(done.index_files)) == (1, 1, 1)
        assert writer.blobs.has_blob(blob_id)
        assert adopt_unindexed(writer).unindexed == 0
    with _fresh(url, tmp_path) as reader:  # durable: a new session sees it indexed, trusted
        reader.blobs.load_index()
        location = reader.blobs.index.get(blob_id)
        assert location is not None and location.trusted and location.pack_id == pack_id


def test_index_is_durable_before_anything_dedups(
    url: str, repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _pack_id, blob_id = _orphan(repo, os.urandom(5000))

    def refuse(*_args: object, **_kwargs: object) -> str:
        raise PermanentBackendError("disk full")

    monkeypatch.setattr(PackStore, "write_index", refuse)
    with _fresh(url, tmp_path) as writer:
        writer.blobs.load_index()
        with pytest.raises(PermanentBackendError):
            adopt_unindexed(writer)
        assert not writer.blobs.has_blob(blob_id), "deduped against a pack no index file lists"


def test_damaged_pack_is_not_adopted(url: str, repo: Repository, tmp_path: Path) -> None:
    damaged_id, damaged_blob = _orphan(repo, os.urandom(5000))
    _good_id, good_blob = _orphan(repo, os.urandom(5000))
    path = Path(url) / pack_name(damaged_id)
    content = bytearray(path.read_bytes())
    content[10] ^= 0x01
    path.write_bytes(bytes(content))
    context, warnings = warning_context()
    with _fresh(url, tmp_path) as writer:
        writer.blobs.load_index()
        done = adopt_unindexed(writer, events=context.events)
        assert not writer.blobs.has_blob(damaged_blob)
        assert writer.blobs.has_blob(good_blob), "positive control: the intact pack is adopted"
    assert done.packs == 1 and [name for name, _why in done.skipped] == [pack_name(damaged_id)]
    assert warnings and pack_name(damaged_id) in warnings[0]


def test_agent_pack_is_never_adopted(url: str, repo: Repository, tmp_path: Path) -> None:
    credential = tmp_path / "agent.cred"
    agents.add_agent(repo, "host1", credential)
    agent = agents.open_agent_repository(url, credential)
    try:
        agent.store_session_key()
        data = os.urandom(5000)
        agent_pack, _ = _orphan(agent, data)
    finally:
        agent.close()
    _good_pack, good_blob = _orphan(repo, os.urandom(5000))
    with _fresh(url, tmp_path) as writer:
        writer.blobs.load_index()
        done = adopt_unindexed(writer)
        assert writer.blobs.has_blob(good_blob), "positive control: the full-key pack is adopted"
        assert not writer.blobs.has_blob(writer.blobs.hasher(data)), (
            "an agent's pack satisfied dedup"
        )
    assert done.unindexed == 2 and done.packs == 1
    assert [name for name, _why in done.skipped] == [pack_name(agent_pack)]


def test_rotate_adopts_only_target_key_packs(url: str, repo: Repository, tmp_path: Path) -> None:
    _pack_id, blob_id = _orphan(repo, os.urandom(5000))
    with _fresh(url, tmp_path) as writer:
        writer.blobs.load_index()
        done = adopt_unindexed(writer, keys={b"\x00" * 8})
        assert done.packs == 0 and not writer.blobs.has_blob(blob_id)
        assert adopt_unindexed(writer, keys={writer.keys.keyring.current.key_id}).packs == 1
