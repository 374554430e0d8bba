"""Issue 8, sections 1 and 6: ``repair index`` trusts no pack header it has not proven.

Before the fix ``repair index`` copied a bad pack header into the new index,
deleted the good index and left the repository unusable. Now each pack's bytes
must match its SHA-256 name and each blob its header lists must decrypt and
verify; the old index goes only after the new one reads back.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import msgpack
import pytest
from tests.conftest import PASSWORD, tree_state

from keyark import ops
from keyark.agents import add_agent
from keyark.archiver.backup import BackupOptions, backup
from keyark.backends.local import LocalBackend
from keyark.context import OperationContext
from keyark.crypto.agents import AgentCredential
from keyark.crypto.envelope import ObjectKind
from keyark.crypto.slots import Credentials
from keyark.errors import IntegrityError
from keyark.maintenance.repair import repair_index
from keyark.repo.agent_session import open_for_agent
from keyark.repo.blob_store import BlobStore
from keyark.repo.index import PackRecord
from keyark.repo.pack import pack_name
from keyark.repo.repository import Repository
from keyark.restorer.run import RestoreOptions, restore

CREDS = Credentials(passphrase=PASSWORD.encode())
SECRET = b"-----BEGIN PRIVATE KEY-----\ngenuine key material\n" * 50


@pytest.fixture
def setup(tmp_path: Path) -> tuple[str, Path, str]:
    """A repository with one full-key snapshot and a registered agent credential."""
    url = str(tmp_path / "repo")
    ops.init_repository(url, PASSWORD.encode(), pack_size_mib=1).close()
    source = tmp_path / "src"
    source.mkdir()
    (source / "server.key").write_bytes(SECRET)
    with ops.open_repository(url, CREDS, cache_dir=tmp_path / "cache") as repo:
        add_agent(repo, "web1", tmp_path / "web1.cred")
        snapshot_id = backup(repo, BackupOptions([str(source)]), OperationContext()).snapshot_id
    return url, source, snapshot_id


def open_full(url: str, tmp_path: Path) -> Repository:
    return ops.open_repository(url, CREDS, cache_dir=tmp_path / "cache")


def put_pack(url: str, tmp_path: Path, rows: list[list[object]], body: bytes) -> bytes:
    """An agent writes a pack with the header rows it likes (sealed validly)."""
    agent = open_for_agent(LocalBackend(Path(url)), AgentCredential.read(tmp_path / "web1.cred"))
    agent.store_session_key()
    header = agent.blobs.current_sealer().seal(
        ObjectKind.PACK_HEADER, b"", msgpack.packb(rows, use_bin_type=True)
    )
    data = body + header + struct.pack("<I", len(header))
    pack_id = hashlib.sha256(data).digest()
    agent.backend.put(pack_name(pack_id), data)
    agent.close()
    return pack_id


def restores(repo: Repository, snapshot_id: str, target: Path, source: Path) -> None:
    snapshot = repo.snapshots.load(snapshot_id)
    restore(repo, snapshot, RestoreOptions(str(target)), OperationContext())
    assert tree_state(target / str(source).lstrip("/")) == tree_state(source)


def test_lying_and_malformed_headers_are_not_indexed(
    setup: tuple[str, Path, str], tmp_path: Path
) -> None:
    url, source, snapshot_id = setup
    with open_full(url, tmp_path) as repo:
        secret_id = repo.blobs.hasher(SECRET)
    # A header claiming the genuine blob's id over garbage, and one with offset -1.
    lying = put_pack(url, tmp_path, [[0, secret_id, 0, 100, len(SECRET), 0]], b"\x00" * 100)
    hostile = put_pack(url, tmp_path, [[0, secret_id, -1, 100, len(SECRET), 0]], b"\x01" * 100)
    with open_full(url, tmp_path) as repo:
        summary = repair_index(repo)
        assert any(hostile.hex()[:16] in m for m in summary.unreadable_packs)
        assert any(lying.hex()[:16] in m for m in summary.bad_blobs)
        repo.blobs.load_index(reload=True)
        assert not {lying, hostile} & set(repo.blobs.index.packs())
        assert repo.blobs.index.has_trusted(secret_id)
    with open_full(url, tmp_path) as repo:
        restores(repo, snapshot_id, tmp_path / "out", source)


def test_pack_not_matching_its_name_is_not_indexed(
    setup: tuple[str, Path, str], tmp_path: Path
) -> None:
    url, source, snapshot_id = setup
    with open_full(url, tmp_path) as repo:
        repo.blobs.load_index()
        genuine = next(iter(repo.blobs.index.packs()))
        data = repo.packs.read(genuine)
        impostor = hashlib.sha256(b"not these bytes").digest()
        repo.backend.put(pack_name(impostor), data)  # valid header, wrong name
        summary = repair_index(repo)
        assert any(impostor.hex()[:16] in m and "SHA-256" in m for m in summary.unreadable_packs)
        assert impostor not in repo.blobs.index.packs() and genuine in repo.blobs.index.packs()
        restores(repo, snapshot_id, tmp_path / "out", source)


def test_old_index_kept_until_the_new_one_reads_back(
    setup: tuple[str, Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, source, snapshot_id = setup
    with open_full(url, tmp_path) as repo:
        old = set(repo.packs.index_names())
        original = BlobStore.read_index_file

        def unreadable_if_new(self: BlobStore, name: str) -> list[PackRecord]:
            if name not in old:
                raise IntegrityError(f"index file {name} failed authentication")
            return original(self, name)

        monkeypatch.setattr(BlobStore, "read_index_file", unreadable_if_new)
        with pytest.raises(IntegrityError):
            repair_index(repo)
        monkeypatch.undo()
        assert old <= set(repo.packs.index_names())  # old index kept
    with open_full(url, tmp_path) as repo:
        restores(repo, snapshot_id, tmp_path / "out", source)
        # Positive control: a repair that reads back replaces the old files.
        repair_index(repo)
        assert not old & set(repo.packs.index_names())
        restores(repo, snapshot_id, tmp_path / "out2", source)
