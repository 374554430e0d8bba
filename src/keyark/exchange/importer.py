"""``import``: store existing archives as snapshots, one snapshot per archive.

Every archive is read twice, streaming, and never extracted to disk: first to check
it (each member passes the ``data`` filter rules, the tree it makes is sound, and its
``.sha256`` file, when there is one, matches), then, once every archive given passed,
to store its members' content straight into the repository. A refused archive stores
nothing, and neither do the others given with it.

An ``openssl enc`` archive (``Salted__``) is decrypted as it is read
(:mod:`keyark.exchange.openssl`). A checksum file may hash the file as it is on disk
or, for an encrypted archive, its plaintext (``keys_backup_X.tar.gz.sha256`` beside
``keys_backup_X.tar.gz.enc``); either is accepted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from keyark import __version__
from keyark.archiver.files import SMALL_FILE
from keyark.context import OperationContext
from keyark.errors import ArchiveIntegrityError, Hint, UsageError
from keyark.events import Code
from keyark.exchange.manifest import HashingReader
from keyark.exchange.members import FILE, read_members
from keyark.exchange.names import stem, time_from_name
from keyark.exchange.openssl import is_openssl_encrypted, open_decrypted
from keyark.exchange.tree_builder import TreeBuilder
from keyark.repo import objects
from keyark.repo.pack import TREE
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot, now

#: The tag every imported snapshot carries.
IMPORT_TAG = "imported"
_COPY_SIZE = 1 << 20


@dataclass
class ImportRequest:
    """The archives and how their snapshots are recorded."""

    archives: list[Path]
    host: str
    tags: list[str] = field(default_factory=list)
    time_from_name: bool = False
    #: The password of ``openssl enc`` archives (the key file's first line).
    password: bytes | None = field(default=None, repr=False)
    #: Force ``pbkdf2``, ``md5`` or ``sha256`` (None: find out).
    kdf: str | None = None


@dataclass
class Imported:
    """One archive stored as a snapshot."""

    archive: str
    snapshot_id: str
    time: str
    paths: list[str]
    files: int
    dirs: int
    bytes: int
    encrypted: bool
    #: The checksum file checked (None: there was none).
    checksum_file: str | None
    #: The same snapshot was stored before (by an earlier import of this archive).
    already_imported: bool = False

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class _Checked:
    path: Path
    time: datetime
    encrypted: bool
    checksum_file: str | None


def import_archives(
    repo: Repository, request: ImportRequest, ctx: OperationContext
) -> list[Imported]:
    """Check every archive, then store each as a snapshot (see the module docstring)."""
    if not request.archives:
        raise UsageError("name at least one archive to import")
    checked = [_check(path, request, ctx) for path in request.archives]
    done: list[Imported] = []
    with repo.lock("import", retry=ctx.lock_wait):
        repo.refresh_keys()
        sealing_key = repo.sealing_key
        repo.blobs.load_index(reload=True)
        for item in checked:
            done.append(_store(repo, item, request, ctx, sealing_key))
    return done


def _check(path: Path, request: ImportRequest, ctx: OperationContext) -> _Checked:
    """Pass one: safety, tree and checksum; nothing is stored."""
    if not path.is_file():
        raise UsageError(f"{path} is not a file")
    stamp = time_from_name(path.name) if request.time_from_name else now()
    builder = TreeBuilder(path.name, _ns(stamp))
    with path.open("rb") as handle:
        encrypted = is_openssl_encrypted(handle.read(8))
    raw_digest, plain_digest = "", ""
    with _plain(path, request, encrypted) as (raw, plain):
        for member in read_members(plain, path.name):  # type: ignore[arg-type]
            ctx.cancel.check()
            if member.kind == FILE and member.content is not None:
                while member.content.read(_COPY_SIZE):
                    pass
            builder.add(member, [], member.size)
        while plain.read(_COPY_SIZE):
            pass
        while raw.read(_COPY_SIZE):
            pass
        raw_digest, plain_digest = raw.digests()["sha256"], plain.digests()["sha256"]
    if not builder.top_level:
        raise UsageError(f"{path} holds no files or directories; nothing to import")
    checksum = _check_sum(path, {raw_digest, plain_digest}, ctx)
    return _Checked(path, stamp, encrypted, checksum)


@contextmanager
def _plain(
    path: Path, request: ImportRequest, encrypted: bool
) -> Iterator[tuple[HashingReader, HashingReader]]:
    """(the file's bytes, the archive's plaintext) as hashing streams."""
    with path.open("rb") as handle:
        raw = HashingReader(handle, ("sha256",))
        source: BinaryIO = raw  # type: ignore[assignment]
        if encrypted:
            if request.password is None:
                raise UsageError(
                    f"{path.name} is encrypted with openssl enc: give its key file",
                    hint=Hint.OPENSSL_KEY,
                )
            source = open_decrypted(source, request.password, request.kdf, path.name)
        yield raw, HashingReader(source, ("sha256",))


def _check_sum(path: Path, digests: set[str], ctx: OperationContext) -> str | None:
    """The checksum file beside ``path`` that matched (None: none); a mismatch refuses."""
    names = dict.fromkeys([path.name + ".sha256", stem(path.name) + ".sha256"])
    if path.name.endswith(".enc"):
        names[path.name[: -len(".enc")] + ".sha256"] = None
    for name in names:
        candidate = path.with_name(name)
        if not candidate.is_file():
            continue
        fields = candidate.read_text(errors="replace").split()
        expected = fields[0].lower().lstrip("\\") if fields else ""
        if expected not in digests:
            raise ArchiveIntegrityError(
                f"{path.name} does not match its checksum file {name} "
                "(SHA-256 differs); nothing was imported"
            )
        return name
    ctx.events.warn(
        Code.IMPORT_UNCHECKED,
        f"{path.name} has no .sha256 file beside it: its integrity was not checked",
        subject=str(path),
    )
    return None


def _store(
    repo: Repository,
    item: _Checked,
    request: ImportRequest,
    ctx: OperationContext,
    sealing_key: bytes,
) -> Imported:
    """Pass two: store the members' content and trees, then the snapshot."""
    builder = TreeBuilder(item.path.name, _ns(item.time))
    writer = objects.ContentWriter(
        objects.saving(repo.blobs), repo.config.chunker, whole_below=SMALL_FILE, cancel=ctx.cancel
    )
    with _plain(item.path, request, item.encrypted) as (_raw, plain):
        for member in read_members(plain, item.path.name):  # type: ignore[arg-type]
            ctx.cancel.check()
            content, size = [], 0
            if member.kind == FILE and member.content is not None:
                stored = writer.write_stream(member.content, member.size)
                content, size = stored.blob_ids, stored.bytes_read
            builder.add(member, content, size)
            ctx.events.progress("import", files_done=builder.counts.files, current=member.name)

    def save_tree(data: bytes) -> bytes:
        blob_id, _added = repo.blobs.save_blob(TREE, data)
        return blob_id

    root = builder.store(save_tree)
    ctx.cancel.check()  # the last checkpoint: after it the snapshot is saved
    repo.require_current_key(sealing_key)
    repo.blobs.flush()
    counts = builder.counts
    snapshot = Snapshot(
        time=item.time,
        host=request.host,
        username=ctx.actor.user,
        uid=os.getuid(),
        gid=os.getgid(),
        paths=builder.top_level,
        tree=root,
        tags=[IMPORT_TAG, *(tag for tag in request.tags if tag != IMPORT_TAG)],
        summary={
            "total_files": counts.files,
            "dirs_new": counts.dirs,
            "bytes_processed": counts.bytes,
        },
        program_version=f"keyark {__version__}",
        extra={"imported_from": item.path.name},
    )
    # The same archive imported again makes the same snapshot document: keep the one
    # stored (an import is idempotent) rather than fail on the existing object.
    snapshot_id = repo.snapshots.snapshot_id_of(repo.snapshots.document(snapshot))
    already = snapshot_id in set(repo.snapshots.ids())
    if not already:
        snapshot_id = repo.snapshots.save(snapshot)
    return Imported(
        str(item.path),
        snapshot_id,
        item.time.isoformat(),
        builder.top_level,
        counts.files,
        counts.dirs,
        counts.bytes,
        item.encrypted,
        item.checksum_file,
        already,
    )


def _ns(moment: datetime) -> int:
    """The time directories an archive has no entry for are given (its snapshot's)."""
    return int(moment.timestamp()) * 1_000_000_000


__all__ = ["IMPORT_TAG", "ImportRequest", "Imported", "import_archives"]
