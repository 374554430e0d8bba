"""``restore --verify``: re-read restored files and compare them with the snapshot."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import BinaryIO

from keyark.cancel import NEVER, CancelToken
from keyark.errors import UnsafePathError
from keyark.repo import objects
from keyark.repo.repository import Repository
from keyark.repo.tree import Node
from keyark.restorer.dirs import DirHandles
from keyark.restorer.plan import PlanEntry
from keyark.results import RestoreSummary


def content_mismatch(repo: Repository, handle: BinaryIO, node: Node) -> str | None:
    """Why the stream is not the node's file, or None if it is.

    It must hold exactly the node's content blobs, in order, and their total length
    must be the size the snapshot records (a file that grew during a backup once got
    a size that disagreed with its stored content).
    """
    total = objects.stream_matches(repo.blobs, handle, node.content)
    if total is None:
        return "restored content differs from the snapshot"
    if total != node.size:
        return (
            f"the snapshot records {node.size} bytes but its content holds {total}: "
            "the snapshot is inconsistent (back the file up again)"
        )
    return None


def verify_files(
    repo: Repository,
    target: str,
    files: list[PlanEntry],
    summary: RestoreSummary,
    fail: Callable[[str, str], None],
    cancel: CancelToken = NEVER,
) -> None:
    """Count matching files in ``summary``; report the others through ``fail``."""
    failed = set(summary.failed)
    handles = DirHandles(target, create=False)
    try:
        for entry in files:
            cancel.check()
            if entry.path in failed:
                continue
            try:
                with handles.use(entry.parts[:-1]) as dir_fd:
                    fd = os.open(
                        entry.node.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd
                    )
                with os.fdopen(fd, "rb") as handle:
                    mismatch = content_mismatch(repo, handle, entry.node)
            except (OSError, UnsafePathError) as error:
                fail(entry.path, f"verification could not read the file ({error})")
                continue
            if mismatch is None:
                summary.files_verified += 1
            else:
                fail(entry.path, mismatch)
    finally:
        handles.close()
