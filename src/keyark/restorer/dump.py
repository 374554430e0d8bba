"""``dump``: write one file of a snapshot to a stream as it is, or a directory as an archive.

A directory becomes a tar (default) or zip archive whose entry names are the
snapshot paths without the leading ``/`` (restic's naming), or paths below
``base`` when one is given (restic's ``SNAPSHOT:SUBFOLDER``). The dumped directory
itself is the first entry (its mode matters: ``.ssh`` is 0700); ``/`` has none.
Nothing binary is written to a terminal: an archive never, a file's content only
when it looks like text.
"""

from __future__ import annotations

import codecs
import io
from dataclasses import dataclass
from typing import BinaryIO

from keyark.catalog.trees import TreeLoader, resolve_path, split_path, walk
from keyark.context import OperationContext
from keyark.errors import Hint, SnapshotNotFoundError, UsageError
from keyark.repo import objects
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot
from keyark.repo.tree import DIR, FILE, Node
from keyark.restorer.archives import ARCHIVE_FORMATS, open_archive

#: The mode of a file an archive is written to (it holds key material).
ARCHIVE_FILE_MODE = 0o600
#: How much of a file's start decides whether it is text.
_SNIFF_BYTES = 8192


@dataclass(frozen=True, slots=True)
class Dumped:
    """What a dump wrote: ``file``, ``tar`` or ``zip``, and the mode a target file gets."""

    format: str
    #: Never wider than the dumped file's own mode, and at most 0600.
    file_mode: int


def dump(
    repo: Repository,
    snapshot: Snapshot,
    path: str,
    out: BinaryIO,
    ctx: OperationContext,
    *,
    drop_privileges: bool = False,
    archive: str = "tar",
    base: str = "/",
) -> Dumped:
    """Stream ``path`` of ``snapshot`` to ``out``: a file as it is, a directory as an
    ``archive`` (``tar`` or ``zip``). ``base`` is the snapshot directory ``path`` is
    relative to. With ``drop_privileges`` (an agent's snapshot) archive entries carry
    no setuid/setgid bits nor security/trusted/system xattrs. Holds a shared lock, so
    prune cannot delete a pack the dump is reading; a cancel stops it at the next blob.
    """
    if archive not in ARCHIVE_FORMATS:
        raise UsageError(f"unknown archive format {archive!r} (use {' or '.join(ARCHIVE_FORMATS)})")
    with repo.lock("dump", retry=ctx.lock_wait):
        repo.blobs.load_index(reload=True)
        return _dump_locked(repo, snapshot, path, out, ctx, drop_privileges, archive, base)


def _dump_locked(
    repo: Repository,
    snapshot: Snapshot,
    path: str,
    out: BinaryIO,
    ctx: OperationContext,
    drop_privileges: bool,
    archive: str,
    base: str,
) -> Dumped:
    load: TreeLoader = repo.blobs.load_tree
    root = _base_tree(load, snapshot.tree, base)
    tree, node = resolve_path(load, root, path)
    terminal = _is_terminal(out)
    if node is not None and node.type == FILE:
        _write_content(repo, node, out, ctx, terminal)
        return Dumped("file", node.mode & ARCHIVE_FILE_MODE)
    if node is not None and node.type != DIR:
        raise UsageError(f"{path} is a {node.type}; dump writes files and directories")
    if terminal:
        raise UsageError(
            f"refusing to write a {archive} archive to a terminal", hint=Hint.REDIRECT_OUTPUT
        )
    parts = split_path(path)

    def open_content(item: Node) -> BinaryIO:
        def load_blob(blob_id: bytes) -> bytes:
            ctx.cancel.check()
            return repo.blobs.load_blob(blob_id)

        return io.BufferedReader(objects.BlobReader(load_blob, item.content))

    writer = open_archive(archive, out, open_content, drop_privileges)
    if node is not None:
        writer.add("/".join(parts), node, 0)
    for entry in walk(load, tree if tree is not None else root, cancel=ctx.cancel):
        item = entry.node
        size = archived_length(repo, item) if item.type == FILE else 0
        writer.add("/".join((*parts, *entry.parts)), item, size)
    writer.close()
    return Dumped(archive, ARCHIVE_FILE_MODE)


def _base_tree(load: TreeLoader, root: bytes, base: str) -> bytes:
    """The tree of directory ``base`` of the snapshot (its root for ``/``)."""
    tree, node = resolve_path(load, root, base)
    if node is not None and node.type != DIR:
        raise SnapshotNotFoundError(f"{base} is not a directory in the snapshot")
    return tree if tree is not None else root


def _write_content(
    repo: Repository, node: Node, out: BinaryIO, ctx: OperationContext, terminal: bool
) -> None:
    """Write a file's content blob by blob; to a terminal only if its start is text."""
    for number, blob_id in enumerate(node.content):
        ctx.cancel.check()
        data = repo.blobs.load_blob(blob_id)
        if number == 0 and terminal and _looks_binary(data[:_SNIFF_BYTES]):
            raise UsageError(
                f"refusing to write the binary content of {node.name} to a terminal",
                hint=Hint.REDIRECT_OUTPUT,
            )
        out.write(data)


def _looks_binary(start: bytes) -> bool:
    """True if the bytes hold a NUL or are not UTF-8 (a cut-off last character is fine)."""
    if b"\0" in start:
        return True
    try:
        codecs.getincrementaldecoder("utf-8")().decode(start, final=False)
    except UnicodeDecodeError:
        return True
    return False


def _is_terminal(out: BinaryIO) -> bool:
    """Whether the stream is a terminal (streams without a descriptor are not)."""
    try:
        return out.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def archived_length(repo: Repository, node: Node) -> int:
    """The length a tar entry announces: the stored content's, else the recorded size.

    Snapshots made before sizes were recorded as read may hold a size that
    disagrees with the content of a file that grew or shrank during the backup;
    the content is what a tar entry must announce. Falls back to the recorded
    size if a blob is not in the index (reading it fails then anyway).
    """
    length = objects.content_length(repo.blobs.index, node.content)
    return node.size if length is None else length


__all__ = ["ARCHIVE_FILE_MODE", "Dumped", "archived_length", "dump"]
