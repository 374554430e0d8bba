"""``dump`` streams: an archive of a large file never holds the file (or the archive) in memory."""

from __future__ import annotations

import hashlib
import os
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from tests.integration.maint_helpers import backup

from keyark.context import OperationContext
from keyark.repo.repository import Repository
from keyark.restorer.dump import dump

#: Large against the chunker's blobs (about 1 MiB, at most 8 MiB).
BIG = 40 * 1024 * 1024


class _Pipe:
    """A write-only sink that keeps a digest and a count, like a pipe to another program."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered."""


@pytest.mark.parametrize("archive", ["tar", "zip"])
def test_archive_of_a_large_file_streams(
    repo: Repository, context: OperationContext, tmp_path: Path, archive: str
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    with open(source / "vault-raft.snap", "wb") as handle:
        for _ in range(BIG // (1 << 20)):
            handle.write(os.urandom(1 << 20))
    snapshot = backup(repo, source, context)

    sink = _Pipe()
    tracemalloc.start()
    try:
        dump(repo, snapshot, str(source), sink, context, archive=archive)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.size > BIG
    # A blob or two and the codec buffers (about 6-8 MiB), never the file (40 MiB).
    assert peak < 24 * 1024 * 1024, peak

    # The streamed bytes are an archive: the same dump to a file reads back whole.
    path = tmp_path / f"out.{archive}"
    with open(path, "wb") as out:
        dump(repo, snapshot, str(source), out, context, archive=archive)
    name = str(source / "vault-raft.snap").lstrip("/")
    if archive == "tar":
        with tarfile.open(path) as tar:
            member = tar.extractfile(name)
            assert member is not None
            content = member.read()
    else:
        with zipfile.ZipFile(path) as archived:
            content = archived.read(name)
    assert content == (source / "vault-raft.snap").read_bytes()
