"""The repository layer's shared pieces: the rewrite sequence and the object layer.

``keyark.repo.rewrite`` is the copy-blobs / replace-index / delete-objects sequence
prune, rotate and the repairs share; ``keyark.repo.objects`` writes content streams
as blobs and reads blobs back as a stream. Each test has a positive control.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import PASSWORD

from keyark.backends.local import LocalBackend
from keyark.cancel import CancelToken
from keyark.chunker import ChunkerParams
from keyark.crypto.slots import Credentials
from keyark.errors import CancelledError, PermanentBackendError, TransientBackendError
from keyark.events import Code, Event, Events, OperationWarning, collecting
from keyark.repo import objects, rewrite
from keyark.repo.index import PackRecord
from keyark.repo.pack import DATA, pack_name
from keyark.repo.repository import Repository

CREDS = Credentials(passphrase=PASSWORD.encode())
SMALL = ChunkerParams(min_size=64 * 1024, avg_size=128 * 1024, max_size=256 * 1024, seed=7)


class Refusing(LocalBackend):
    """Refuses to delete the names in ``refuse`` (permanently) and ``defer`` (transiently)."""

    def __init__(self, root: Path, refuse: set[str], defer: set[str]) -> None:
        super().__init__(root)
        self.refuse, self.defer = refuse, defer

    def delete(self, name: str) -> None:
        if name in self.refuse:
            raise PermanentBackendError(f"retention holds {name}")
        if name in self.defer:
            raise TransientBackendError(f"timeout deleting {name}")
        super().delete(name)


@pytest.fixture
def repo(path: Path) -> Iterator[Repository]:
    with Repository.open(LocalBackend(path), CREDS) as opened:
        yield opened


def _pack_of(repo: Repository, data: bytes) -> tuple[bytes, bytes]:
    """Save ``data`` as one blob in a pack of its own: (blob id, pack id)."""
    before = set(repo.stored_packs())
    blob_id, _added = repo.blobs.save_blob(DATA, data)
    repo.blobs.flush()
    (pack_id,) = set(repo.stored_packs()) - before
    return blob_id, pack_id


def _records(repo: Repository) -> dict[bytes, PackRecord]:
    found: dict[bytes, PackRecord] = {}
    for name in repo.packs.index_names():
        for record in repo.blobs.read_index_file(name):
            found[record.pack_id] = record
    return found


# --------------------------------------------------------------------- rewrite
def test_copy_then_replace_index_then_delete(repo: Repository) -> None:
    kept_blob, kept_pack = _pack_of(repo, os.urandom(3000))
    moved_blob, moved_pack = _pack_of(repo, os.urandom(3000))
    dropped_blob, dropped_pack = _pack_of(repo, os.urandom(3000))
    old_index = repo.packs.index_names()
    records = _records(repo)
    guarded: list[int] = []
    with rewrite.BlobCopier(repo) as copier:
        content = rewrite.read_pack(repo, moved_pack)
        assert content.intact
        for location, sealed in content.copies(records[moved_pack]):
            copier.copy(location, sealed)
        new = copier.finish()
        interim = copier.index_files
    assert copier.blobs == 1 and len(new) == 1 and interim
    doomed = {moved_pack: records[moved_pack].size, dropped_pack: records[dropped_pack].size}
    result = rewrite.rewrite_index(
        repo,
        [records[kept_pack], *new],
        old_index + interim,
        doomed,
        guard=lambda: guarded.append(1),
    )
    assert len(guarded) == 2, "guard runs before each deleting phase"
    assert set(repo.packs.index_names()) == set(result.index_written)
    assert result.index_deleted == len(old_index + interim)
    assert (result.packs_deleted, result.bytes_deleted) == (2, sum(doomed.values()))
    assert set(repo.stored_packs()) == {kept_pack, new[0].pack_id}
    with Repository.open(LocalBackend(repo.location), CREDS) as fresh:  # durable
        fresh.blobs.load_index()
        assert fresh.blobs.index.has_trusted(kept_blob)
        assert fresh.blobs.index.has_trusted(moved_blob)
        assert fresh.blobs.load_blob(moved_blob)
        assert dropped_blob not in fresh.blobs.index  # positive control: it did go


def test_a_failed_proof_keeps_the_old_index_and_every_pack(repo: Repository) -> None:
    _blob, pack = _pack_of(repo, os.urandom(3000))
    old_index = repo.packs.index_names()
    records = _records(repo)

    def refuse(written: list[str]) -> None:
        assert written
        raise RuntimeError("does not read back")

    with pytest.raises(RuntimeError):
        rewrite.rewrite_index(repo, [records[pack]], old_index, {pack: 1}, prove=refuse)
    assert set(old_index) <= set(repo.packs.index_names())
    assert pack in repo.stored_packs()


def test_refused_and_deferred_deletions_are_warned_and_the_rest_goes(path: Path) -> None:
    with Repository.open(LocalBackend(path), CREDS) as setup:
        packs = [_pack_of(setup, os.urandom(2000))[1] for _ in range(3)]
    refused, deferred, deleted = (pack_name(p) for p in packs)
    backend = Refusing(path, {refused}, {deferred})
    with Repository.open(backend, CREDS) as repo, collecting() as (events, seen):
        done = rewrite.delete_objects(repo, [refused, deferred, deleted], events=events)
    assert done.deleted == 1 and done.refused == [f"{refused}: retention holds {refused}"]
    warnings = {w.code: w for w in seen if isinstance(w, OperationWarning)}
    assert set(warnings) == {Code.DELETE_REFUSED, Code.DELETE_DEFERRED}
    assert warnings[Code.DELETE_REFUSED].subject == refused
    assert "running it again" in warnings[Code.DELETE_DEFERRED].message
    assert "running it again" not in warnings[Code.DELETE_REFUSED].message
    assert not (path / deleted).exists() and (path / refused).exists()


def test_a_cancel_stops_between_deletions(repo: Repository) -> None:
    packs = [_pack_of(repo, os.urandom(2000))[1] for _ in range(2)]
    token = CancelToken()
    repo.cancel = token
    token.cancel()
    with pytest.raises(CancelledError):
        rewrite.delete_objects(repo, [pack_name(p) for p in packs])
    assert set(packs) <= set(repo.stored_packs())
    repo.cancel = CancelToken()  # positive control: uncancelled, they go
    assert rewrite.delete_objects(repo, [pack_name(p) for p in packs]).deleted == 2


def test_unindex_packs_rewrites_only_the_files_listing_them(repo: Repository) -> None:
    _a, first = _pack_of(repo, os.urandom(2000))
    kept_blob, second = _pack_of(repo, os.urandom(2000))
    names = repo.packs.index_names()
    replaced = rewrite.unindex_packs(repo, names, {first})
    assert len(replaced) == 1 and set(replaced) < set(names)
    assert set(_records(repo)) == {second}
    repo.blobs.load_index(reload=True)
    assert repo.blobs.index.has_trusted(kept_blob)


# --------------------------------------------------------------------- objects
def test_content_round_trips_through_blobs(repo: Repository) -> None:
    data = os.urandom(700 * 1024)
    writer = objects.ContentWriter(objects.saving(repo.blobs), SMALL, whole_below=64 * 1024)
    stored = writer.write_stream(io.BytesIO(data), len(data))
    repo.blobs.flush()
    assert len(stored.blob_ids) > 1 and stored.bytes_read == len(data)
    assert stored.new_blobs == len(stored.blob_ids) and stored.bytes_added > 0
    assert objects.content_length(repo.blobs.index, stored.blob_ids) == len(data)
    assert objects.open_blobs(repo.blobs, stored.blob_ids).read() == data
    out = io.BytesIO()
    assert objects.write_blobs(repo.blobs, stored.blob_ids, out) == len(data)
    assert out.getvalue() == data
    assert objects.stream_matches(repo.blobs, io.BytesIO(data), stored.blob_ids) == len(data)
    assert objects.stream_matches(repo.blobs, io.BytesIO(data + b"x"), stored.blob_ids) is None
    changed = bytearray(data)
    changed[-1] ^= 1
    assert objects.stream_matches(repo.blobs, io.BytesIO(bytes(changed)), stored.blob_ids) is None
    again = writer.write_stream(io.BytesIO(data), len(data))  # dedup: nothing new
    assert again.blob_ids == stored.blob_ids and again.bytes_added == 0


def test_small_content_is_one_blob_and_a_dry_run_stores_nothing(repo: Repository) -> None:
    small = os.urandom(100 * 1024)
    dry = objects.ContentWriter(objects.DryRun(repo.blobs), SMALL, whole_below=256 * 1024)
    planned = dry.write_stream(io.BytesIO(small), len(small))
    assert len(planned.blob_ids) == 1 and planned.new_blobs == 1
    assert dry.write(small).new_blobs == 0, "a dry run counts a repeat as known"
    repo.blobs.flush()
    assert repo.stored_packs() == {}
    real = objects.ContentWriter(objects.saving(repo.blobs), SMALL, whole_below=256 * 1024)
    assert real.write_stream(io.BytesIO(small), len(small)).blob_ids == planned.blob_ids
    assert real.write(b"").blob_ids == []


def test_warnings_go_to_the_repository_events_by_default(path: Path) -> None:
    with Repository.open(LocalBackend(path), CREDS) as setup:
        pack = _pack_of(setup, os.urandom(2000))[1]
    name = pack_name(pack)
    with Repository.open(Refusing(path, {name}, set()), CREDS) as repo:
        seen: list[Event] = []
        repo.events = Events("prune", seen.append)
        assert rewrite.delete_objects(repo, [pack_name(b"\x01" * 32)]).deleted == 0  # missing
        assert seen == [], "a missing object is no warning"
        assert rewrite.delete_objects(repo, [name]).refused
    assert [(e.operation, e.code) for e in seen if isinstance(e, OperationWarning)] == [
        ("prune", Code.DELETE_REFUSED)
    ]
