"""Streaming a dump (a file, or a directory as tar/zip) to the client as it is read.

The dump runs in a worker thread writing into a bounded pipe; the response reads from
it. The response starts only once the first bytes are there, so an error before any
content (no such snapshot or path) is still a problem response; a client that goes away
cancels the dump at its next write.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from starlette.responses import StreamingResponse

from keyark.cancel import CancelToken
from keyark.errors import CancelledError

if TYPE_CHECKING:
    from keyark.access.permissions import Principal
    from keyark.server.state import ServerState

#: Chunks held between the dump and a slow client (backpressure beyond this).
PIPE_CHUNKS = 16
#: Bytes collected before the response starts (enough to tell tar from zip).
SNIFF_BYTES = 512
_END = object()


class ChunkPipe:
    """A write-only binary stream whose chunks a reader takes from a queue."""

    def __init__(self, cancel: CancelToken) -> None:
        self.chunks: queue.Queue[object] = queue.Queue(PIPE_CHUNKS)
        self.cancel = cancel

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Queue a copy of ``data``; blocks while the reader is behind (until cancelled)."""
        chunk = bytes(data)
        while True:
            self.cancel.check()
            try:
                self.chunks.put(chunk, timeout=0.5)
                return len(chunk)
            except queue.Full:
                continue

    def flush(self) -> None:
        """Nothing is buffered here."""

    def writable(self) -> bool:
        """A pipe is writable."""
        return True

    def seekable(self) -> bool:
        """A pipe cannot seek (zip writes data descriptors)."""
        return False

    def tell(self) -> int:
        """Not supported (a pipe has no position)."""
        raise OSError("a pipe has no position")

    def close(self) -> None:
        """End of the stream (written by the worker)."""

    @property
    def closed(self) -> bool:
        """Never closed by its writer."""
        return False


def stream_dump(
    state: ServerState, principal: Principal, options: Any, repository: str | None
) -> StreamingResponse:
    """Run ``dump`` for ``principal`` and stream its output; an error that happens before
    the first bytes is raised here (a problem response)."""
    cancel = CancelToken()
    pipe = ChunkPipe(cancel)
    outcome: dict[str, BaseException] = {}

    def work() -> None:
        try:
            state.run(principal, "dump", dataclasses.replace(options, output=pipe), repository,
                      cancel=cancel)  # fmt: skip
        except BaseException as error:  # handed to the reader
            outcome["error"] = error
        finally:
            _put_end(pipe, cancel)

    threading.Thread(target=work, name="dump", daemon=True).start()
    head = b""
    ended = False
    while len(head) < SNIFF_BYTES:
        chunk = pipe.chunks.get()
        if chunk is _END:
            ended = True
            break
        assert isinstance(chunk, bytes)
        head += chunk
    if "error" in outcome:
        raise outcome["error"]
    return StreamingResponse(
        _body(head, pipe, cancel, ended, outcome),
        media_type=_media_type(head, options),
        headers={"Content-Disposition": f'attachment; filename="{_filename(head, options)}"'},
    )


def _put_end(pipe: ChunkPipe, cancel: CancelToken) -> None:
    while True:
        try:
            pipe.chunks.put(_END, timeout=0.5)
            return
        except queue.Full:
            if cancel.cancelled:  # the reader is gone: make room for the end mark
                try:
                    pipe.chunks.get_nowait()
                except queue.Empty:
                    pass


def _body(
    head: bytes,
    pipe: ChunkPipe,
    cancel: CancelToken,
    ended: bool,
    outcome: dict[str, BaseException],
) -> Iterator[bytes]:
    try:
        if head:
            yield head
        while not ended:
            chunk = pipe.chunks.get()
            if chunk is _END:
                break
            assert isinstance(chunk, bytes)
            yield chunk
        error = outcome.get("error")
        if error is not None and not isinstance(error, CancelledError):
            raise error  # the connection ends without a complete body
    finally:
        cancel.cancel()  # a client that went away stops the dump


def _is_tar(head: bytes) -> bool:
    return head[257:262] == b"ustar"


def _media_type(head: bytes, options: Any) -> str:
    if head.startswith(b"PK\x03\x04"):
        return "application/zip"
    if _is_tar(head):
        return "application/x-tar"
    return "application/octet-stream"


def _filename(head: bytes, options: Any) -> str:
    base = str(options.path).rstrip("/").rsplit("/", 1)[-1] or "snapshot"
    base = "".join(c if c.isalnum() or c in "._-" else "_" for c in base)
    if head.startswith(b"PK\x03\x04"):
        return base + ".zip"
    return base + ".tar" if _is_tar(head) else base


__all__ = ["ChunkPipe", "stream_dump"]
