"""``export``: a snapshot (or one directory of it) as a verified archive file.

The archive is written with ``dump``'s archive writers (:mod:`keyark.restorer.archives`):
entries are named by snapshot paths without the leading ``/``, or relative to the
directory of ``SNAPSHOT:DIR``. Every regular file's content is hashed as it streams
into the archive, giving the manifests (``ARCHIVE.SHA256SUMS`` and, on request,
``ARCHIVE.SHA1SUMS`` and ``ARCHIVE.MD5SUMS``). With a signer, ``ARCHIVE.sig`` holds a
signed statement covering the archive file's SHA-256 and each manifest file's
(:mod:`keyark.exchange.signing`). With an age recipient, the archive and the
manifests (which name the files) are encrypted to it.

Every file is written under a temporary name (mode 0600) and put in place only when
the whole export succeeded; a failed or cancelled export leaves none of them.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from keyark.catalog.trees import TreeLoader, resolve_path, walk
from keyark.context import OperationContext
from keyark.errors import SnapshotNotFoundError, UsageError
from keyark.exchange.manifest import MANIFEST_NAMES, HashingReader, Manifest
from keyark.exchange.signing import SIGNATURE_SUFFIX, ExportSigner
from keyark.exchange.streams import (
    HashingWriter,
    age_encrypt,
    age_recipient,
    compressor,
    encrypt_while_producing,
)
from keyark.repo import objects
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot
from keyark.repo.tree import DIR, FILE, Node
from keyark.restorer.archives import open_archive
from keyark.restorer.dump import ARCHIVE_FILE_MODE, archived_length
from keyark.restorer.dump_target import TargetFile


@dataclass(frozen=True)
class ExportRequest:
    """What to export and how."""

    #: The directory of the snapshot whose content is exported (``/``: all of it).
    base: str
    output: Path
    format: str
    algorithms: tuple[str, ...]
    #: Signs the export (None: unsigned).
    signer: ExportSigner | None = None
    #: The age recipient (``age1...``) the archive and manifests are encrypted to.
    recipient: str | None = None
    #: An agent's snapshot: no setuid/setgid bits, no privileged xattrs.
    drop_privileges: bool = False


@dataclass
class Exported:
    """What an export wrote."""

    archive: str
    members: int
    size: int
    sha256: str
    manifests: list[str] = field(default_factory=list)
    signature: str | None = None


def export_snapshot(
    repo: Repository, snapshot: Snapshot, request: ExportRequest, ctx: OperationContext
) -> Exported:
    """Write the archive, its manifests and (when signing) its signature file.

    Holds a shared lock while reading, so prune cannot delete a pack in use; a cancel
    stops it at the next blob and leaves no file behind.
    """
    recipient = age_recipient(request.recipient) if request.recipient else None
    files: list[TargetFile] = []
    try:
        archive = TargetFile(str(request.output))
        files.append(archive)
        sink = HashingWriter(archive.stream)
        manifest = Manifest(request.algorithms)
        with repo.lock("export", retry=ctx.lock_wait):
            repo.blobs.load_index(reload=True)

            def produce(out: BinaryIO) -> None:
                _write_archive(repo, snapshot, request, manifest, out, ctx)

            if recipient is None:
                produce(sink)  # type: ignore[arg-type]
            else:
                encrypt_while_producing(produce, recipient, sink)  # type: ignore[arg-type]
        exported = Exported(str(request.output), len(manifest.entries), sink.length, sink.sha256)
        manifest_digests: dict[str, str] = {}
        for algorithm in request.algorithms:
            name = MANIFEST_NAMES[algorithm]
            data = _encrypted(manifest.render(algorithm), recipient)
            path = _beside(request.output, "." + name)
            files.append(_written(path, data))
            exported.manifests.append(str(path))
            manifest_digests[name] = _sha256(data)
        if request.signer is not None:
            statement = _statement(snapshot, request, exported, manifest_digests, repo.repo_id)
            path = _beside(request.output, SIGNATURE_SUFFIX)
            files.append(_written(path, request.signer.sign(statement)))
            exported.signature = str(path)
        for target in [*files[1:], archive]:  # the archive last: it marks a whole export
            target.commit(ARCHIVE_FILE_MODE)
        _remove_stale(request.output, exported)
    except BaseException:
        for target in files:
            target.discard()
        raise
    return exported


def _write_archive(
    repo: Repository,
    snapshot: Snapshot,
    request: ExportRequest,
    manifest: Manifest,
    out: BinaryIO,
    ctx: OperationContext,
) -> None:
    """Stream the archive of ``request.base`` into ``out``, recording member digests."""
    load: TreeLoader = repo.blobs.load_tree
    tree, node = resolve_path(load, snapshot.tree, request.base)
    if node is not None and node.type != DIR:
        raise SnapshotNotFoundError(f"{request.base} is not a directory in the snapshot")
    root = tree if tree is not None else snapshot.tree
    layer = compressor(request.format, out)
    reading: list[HashingReader] = []

    def load_blob(blob_id: bytes) -> bytes:
        ctx.cancel.check()
        return repo.blobs.load_blob(blob_id)

    def open_content(item: Node) -> BinaryIO:
        stream = io.BufferedReader(objects.BlobReader(load_blob, item.content))
        reader = HashingReader(stream, request.algorithms)
        reading.append(reader)
        return reader  # type: ignore[return-value]

    archive = "zip" if request.format == "zip" else "tar"
    writer = open_archive(archive, layer, open_content, request.drop_privileges)
    links: dict[tuple[int, int], dict[str, str]] = {}
    count = 0
    for entry in walk(load, root, cancel=ctx.cancel):
        item = entry.node
        name = "/".join(entry.parts)
        size = archived_length(repo, item) if item.type == FILE else 0
        reading.clear()
        writer.add(name, item, size)
        if item.type != FILE:
            continue
        key = (item.device, item.inode)
        digests = reading[0].digests() if reading else links.get(key)
        if digests is None:  # cannot happen: a link's first occurrence was read
            raise UsageError(f"{name}: its content was not written to the archive")
        if item.links > 1:
            links.setdefault(key, digests)
        manifest.add(name, digests)
        count += 1
        ctx.events.progress("export", files_done=count, current=name)
    writer.close()
    if layer is not out:
        layer.close()
    out.flush()


def _statement(
    snapshot: Snapshot,
    request: ExportRequest,
    exported: Exported,
    manifests: dict[str, str],
    repo_id: str,
) -> dict[str, object]:
    return {
        "archive": {
            "name": request.output.name,
            "size": exported.size,
            "sha256": exported.sha256,
            "format": request.format,
            "encrypted": "age" if request.recipient else None,
        },
        "manifests": manifests,
        "members": exported.members,
        "snapshot": snapshot.id,
        "snapshot_time": snapshot.time.isoformat(),
        "host": snapshot.host,
        "base": request.base,
        "repository": repo_id,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _remove_stale(archive: Path, exported: Exported) -> None:
    """Remove the manifests and signature an earlier export to this name left and this
    one did not write (they would not match the new archive)."""
    written = {*exported.manifests, exported.signature}
    for suffix in (*("." + name for name in MANIFEST_NAMES.values()), SIGNATURE_SUFFIX):
        path = _beside(archive, suffix)
        if str(path) not in written:
            path.unlink(missing_ok=True)


def _beside(archive: Path, suffix: str) -> Path:
    return archive.with_name(archive.name + suffix)


def _encrypted(data: bytes, recipient: object | None) -> bytes:
    return data if recipient is None else age_encrypt(data, recipient)


def _written(path: Path, data: bytes) -> TargetFile:
    target = TargetFile(str(path))
    target.stream.write(data)
    return target


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


__all__ = ["ExportRequest", "Exported", "export_snapshot"]
