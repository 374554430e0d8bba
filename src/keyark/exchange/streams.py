"""The byte streams around an archive: compression layers, hashing, age encryption.

An export is written through a chain: the archive writer, then (for ``tar.gz`` and
``tar.zst``) a compressor, then (with a recipient) age encryption, then a writer that
hashes what reaches the file. age's library reads its input from a stream, so it runs
on a worker thread reading a pipe the archive is written into (on the calling thread,
where a cancel interrupts it): nothing is held whole in memory and nothing is written
to disk in clear.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import BinaryIO, Protocol, cast

import zstandard

from keyark.errors import ArchiveDecryptionError, UsageError

#: Archive formats an export writes (and an import reads).
EXPORT_FORMATS = ("tar", "tar.gz", "tar.zst", "zip")
#: The file name suffix of each format.
SUFFIXES = {"tar": ".tar", "tar.gz": ".tar.gz", "tar.zst": ".tar.zst", "zip": ".zip"}
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZIP_MAGIC = b"PK\x03\x04"
AGE_MAGIC = b"age-encryption.org/v1\n"


class Closable(Protocol):
    """A writable layer that must be closed to write its trailer."""

    def write(self, data: bytes, /) -> int:
        """Write bytes."""

    def close(self) -> None:
        """Finish the layer (its trailer) without closing what is below it."""


class HashingWriter:
    """Writes to ``out`` and hashes (SHA-256) and counts what was written."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._hash = hashlib.sha256()
        #: Bytes written so far.
        self.length = 0

    def write(self, data: bytes, /) -> int:
        """Write and hash ``data``."""
        view = memoryview(data)
        self._hash.update(view)
        self.length += len(view)
        self._out.write(view)
        return len(view)

    def flush(self) -> None:
        """Flush the output."""
        self._out.flush()

    def close(self) -> None:
        """Leave the output open: it belongs to the caller."""

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of everything written."""
        return self._hash.hexdigest()


def compressor(fmt: str, out: BinaryIO) -> BinaryIO:
    """The layer compressing ``fmt``'s archive into ``out`` (``out`` itself when none)."""
    if fmt == "tar.gz":
        return cast(BinaryIO, gzip.GzipFile(fileobj=out, mode="wb", mtime=0))
    if fmt == "tar.zst":
        return cast(BinaryIO, zstandard.ZstdCompressor(level=9).stream_writer(out, closefd=False))
    if fmt in ("tar", "zip"):
        return out
    raise UsageError(f"unknown archive format {fmt!r} (use {', '.join(EXPORT_FORMATS)})")


def age_recipient(text: str) -> object:
    """The parsed age recipient (``age1...``); UsageError (one line) when it is not one."""
    from pyrage import RecipientError, x25519  # type: ignore[import-untyped]

    try:
        return x25519.Recipient.from_str(text.strip())
    except (RecipientError, ValueError):
        raise UsageError(
            f"{text[:80]!r} is not an age recipient (age1... as age-keygen -y prints)"
        ) from None


@contextmanager
def _piped(
    work: Callable[[BinaryIO], None], *, worker_writes: bool, name: str
) -> Iterator[tuple[BinaryIO, list[BaseException]]]:
    """A pipe between the block and ``work(stream)`` running on a worker thread.

    ``worker_writes``: the worker writes and the block reads, else the other way round.
    Yields the block's end and the list the worker's error lands in. Leaving the block
    closes its end first (the worker then sees the end of its input, or fails writing
    and stops), then waits for the worker. The block runs on the calling thread, so a
    signal (a cancel) interrupts Python code there, never a library's loop.
    """
    read_fd, write_fd = os.pipe()
    reader, writer = os.fdopen(read_fd, "rb"), os.fdopen(write_fd, "wb")
    mine, theirs = (reader, writer) if worker_writes else (writer, reader)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            work(cast(BinaryIO, theirs))
        except BaseException as error:  # handed to the caller through ``failure``
            failure.append(error)
        finally:
            try:
                theirs.close()
            except OSError as error:  # the other end went away
                failure.append(error)

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    try:
        yield cast(BinaryIO, mine), failure
    finally:
        try:
            mine.close()
        except OSError:  # the worker stopped reading: its error is the one told
            pass
        worker.join()


def encrypt_while_producing(
    produce: Callable[[BinaryIO], None], recipient: object, out: BinaryIO
) -> None:
    """``produce(stream)`` on this thread, age-encrypted into ``out`` on a worker thread.

    The producer's error (or a cancel) propagates as it is; when the producer failed
    because encryption stopped reading, the encryption's error is raised instead.
    """
    import pyrage

    def encrypt(plain: BinaryIO) -> None:
        pyrage.encrypt_io(plain, out, [recipient])

    try:
        with _piped(encrypt, worker_writes=False, name="keyark-encrypt") as (stream, failure):
            produce(stream)
    except OSError:
        if failure:
            raise failure[0] from None
        raise
    if failure:
        raise failure[0]


def age_identity(text: str) -> object:
    """The parsed age identity (``AGE-SECRET-KEY-1...``, comment lines allowed)."""
    from pyrage import IdentityError, x25519

    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            try:
                return x25519.Identity.from_str(line.strip())
            except (IdentityError, ValueError):
                break
    raise UsageError("the identity file holds no age identity (AGE-SECRET-KEY-1...)")


@contextmanager
def decrypting(raw: BinaryIO, identity: object, what: str) -> Iterator[BinaryIO]:
    """The age-decrypted content of ``raw`` as a stream (decrypted on a worker thread).

    A wrong identity or damaged ciphertext is an ArchiveDecryptionError once the
    reader reached the end (or stopped).
    """
    import pyrage

    def write(out: BinaryIO) -> None:
        pyrage.decrypt_io(raw, out, [identity])

    with _piped(write, worker_writes=True, name="keyark-decrypt") as (reader, failure):
        yield reader
        while reader.read(1 << 20):  # the rest, so a damaged tail is noticed
            pass
    if failure and not isinstance(failure[0], OSError):
        raise ArchiveDecryptionError(
            f"cannot decrypt {what} with the age identity given: {failure[0]}"
        ) from None


def age_encrypt(data: bytes, recipient: object) -> bytes:
    """``data`` (small: a manifest) encrypted to ``recipient``."""
    import pyrage

    return bytes(pyrage.encrypt(data, [recipient]))


def age_decrypt(data: bytes, identity: object, what: str) -> bytes:
    """``data`` (small: a manifest) decrypted with ``identity``; ArchiveDecryptionError."""
    import pyrage

    try:
        return bytes(pyrage.decrypt(data, [identity]))
    except pyrage.DecryptError as error:
        raise ArchiveDecryptionError(f"cannot decrypt {what}: {error}") from None


def sniff(head: bytes) -> str:
    """The archive format the first bytes of a file show (``tar`` when nothing else)."""
    if head.startswith(GZIP_MAGIC):
        return "tar.gz"
    if head.startswith(ZSTD_MAGIC):
        return "tar.zst"
    if head.startswith(ZIP_MAGIC) or head.startswith(b"PK\x05\x06"):
        return "zip"
    return "tar"


__all__ = [
    "AGE_MAGIC",
    "EXPORT_FORMATS",
    "SUFFIXES",
    "Closable",
    "HashingWriter",
    "age_decrypt",
    "age_encrypt",
    "age_identity",
    "age_recipient",
    "compressor",
    "decrypting",
    "encrypt_while_producing",
    "sniff",
]
