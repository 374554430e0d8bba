"""Downloads from the snapshot browser: a file as it is, a directory as a tar or zip
archive, streamed by the server's dump streaming (:mod:`keyark.server.downloads`):
``dump`` runs for the principal (so permission-checked and audited), nothing is written
to the server's disk."""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

from keyark import ops
from keyark.errors import UsageError
from keyark.server.dashboard.snapshots import repository_choice
from keyark.server.downloads import stream_dump

if TYPE_CHECKING:
    from starlette.responses import StreamingResponse

    from keyark.access.permissions import Principal
    from keyark.server.state import ServerState

#: The archive formats a directory downloads as.
ARCHIVES = ("tar", "zip")


def download(
    state: ServerState,
    principal: Principal,
    repository: str | None,
    snapshot: str,
    path: str,
    archive: str,
) -> StreamingResponse:
    """The file at ``path`` of ``snapshot`` (or the directory as ``archive``: tar or zip)."""
    if archive not in ARCHIVES:
        raise UsageError(f"unknown archive format {archive!r}: use tar or zip")
    options = ops.DumpOptions(
        snapshot=snapshot, path=posixpath.normpath("/" + path.lstrip("/")), archive=archive
    )
    return stream_dump(state, principal, options, repository_choice(state, repository))


__all__ = ["ARCHIVES", "download"]
