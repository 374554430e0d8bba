"""Issue 8, section 9: a keyless reader of a pack cannot split it into blobs (design D8).

Before the fix every blob in a pack started with the plaintext envelope prefix
``b"KA\\x01" | cipher | key id``, so storage could recover each blob's size and so
per-file sizes. Blobs are now stored bare; only the sealed header (one per pack)
carries a prefix.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import PASSWORD, tree_state

from keyark import ops
from keyark.archiver.backup import BackupOptions, backup
from keyark.context import OperationContext
from keyark.crypto.envelope import ObjectKind
from keyark.crypto.slots import Credentials
from keyark.repo.pack import TRAILER_SIZE, header_span, pack_id_from_name
from keyark.restorer.run import RestoreOptions, restore

MARKER = b"KA\x01"
FILES = 40


def test_keyless_scan_finds_no_per_blob_marker(tmp_path: Path) -> None:
    url = str(tmp_path / "repo")
    ops.init_repository(url, PASSWORD.encode(), pack_size_mib=1).close()
    source = tmp_path / "src"
    source.mkdir()
    for i in range(FILES):  # one blob per small file, all in one data pack
        (source / f"key{i}.pem").write_bytes(os.urandom(2000 + 37 * i))
    repo = ops.open_repository(url, Credentials(passphrase=PASSWORD.encode()))
    summary = backup(repo, BackupOptions([str(source)]), OperationContext())
    key_id = repo.keys.keyring.current.key_id
    blobs = 0
    old_way = b""
    for name, _size in repo.packs.names():
        assert pack_id_from_name(name) is not None
        data = (tmp_path / "repo" / name).read_bytes()
        offset, _length = header_span(len(data), data[-TRAILER_SIZE:])
        blob_area = data[:offset]
        assert data[offset : offset + 3] == MARKER  # the one sealed header per pack
        # What a keyless reader can split on: nothing in the blob area.
        assert key_id not in blob_area
        assert blob_area.count(MARKER) <= 1  # a random 3-byte match is possible, rarely
        entries = repo.blobs.read_pack_header(pack_id_from_name(name))  # type: ignore[arg-type]
        blobs += len(entries)
        # Positive control: the same blobs sealed the old way show one marker each.
        sealer = repo.blobs.current_sealer()
        old_way += b"".join(
            sealer.seal(ObjectKind.DATA_BLOB, e.blob_id, b"x" * e.raw_length) for e in entries
        )
    assert blobs >= FILES
    assert old_way.count(MARKER) >= blobs
    # And the bare layout still restores byte for byte.
    snapshot = repo.snapshots.load(summary.snapshot_id)
    restore(repo, snapshot, RestoreOptions(str(tmp_path / "out")), OperationContext())
    assert tree_state(tmp_path / "out" / str(source).lstrip("/")) == tree_state(source)
    repo.close()
