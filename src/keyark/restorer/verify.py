"""``restore --verify``: re-read restored files and compare them with the snapshot."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import BinaryIO

from keyark.errors import UnsafePathError
from keyark.repo.repository import Repository
from keyark.repo.tree import Node
from keyark.restorer.dirs import DirHandles
from keyark.restorer.plan import PlanEntry
from keyark.results import RestoreSummary


def content_matches(repo: Repository, handle: BinaryIO, node: Node) -> bool:
    """True if the stream holds exactly the node's content blobs, in order."""
    for blob_id in node.content:
        length = repo.index.raw_length(blob_id)
        if length is None or repo.hasher(handle.read(length)) != blob_id:
            return False
    return handle.read(1) == b""


def verify_files(
    repo: Repository,
    target: str,
    files: list[PlanEntry],
    summary: RestoreSummary,
    fail: Callable[[str, str], None],
) -> None:
    """Count matching files in ``summary``; report the others through ``fail``."""
    failed = set(summary.failed)
    handles = DirHandles(target, create=False)
    try:
        for entry in files:
            if entry.path in failed:
                continue
            try:
                with handles.use(entry.parts[:-1]) as dir_fd:
                    fd = os.open(
                        entry.node.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd
                    )
                with os.fdopen(fd, "rb") as handle:
                    ok = content_matches(repo, handle, entry.node)
            except (OSError, UnsafePathError) as error:
                fail(entry.path, f"verification could not read the file ({error})")
                continue
            if ok:
                summary.files_verified += 1
            else:
                fail(entry.path, "restored content differs from the snapshot")
    finally:
        handles.close()
