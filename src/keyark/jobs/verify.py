"""Reading a snapshot back: every stored copy of (a share of) its blobs, decrypted and
checked against its id.

A job's ``verify: full | subset N%`` runs this on the snapshot it just made: the
snapshot's trees are loaded (each verified as it is read), then every stored copy of
the chosen blobs — all of them, or a seeded sample of N% (at least one) — is read from
storage, decrypted and hashed. Any copy that fails is a problem; the repository is
not changed. The share is of the snapshot's blobs (not only those this run added:
the files it found unchanged are read back too).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from keyark.catalog.trees import unique_trees
from keyark.context import OperationContext
from keyark.errors import BackendError, IntegrityError, SnapshotNotFoundError, UsageError
from keyark.repo.repository import Repository
from keyark.repo.tree import FILE
from keyark.results import Summary


@dataclass(frozen=True)
class VerifyOptions:
    """Which snapshot to read back (an id or unique prefix), and what share of its blobs."""

    snapshot: str
    #: 0 < percent <= 100.
    percent: float = 100.0


@dataclass
class VerifySummary(Summary):
    """What was read back and what failed."""

    snapshot_id: str = ""
    blobs_total: int = 0
    blobs_checked: int = 0
    copies_checked: int = 0
    bytes_read: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        """``42 of 420 blobs (10%) read back: ok`` (or the problem count)."""
        share = self.blobs_checked * 100 / self.blobs_total if self.blobs_total else 100
        outcome = "ok" if self.ok else f"{len(self.problems)} problem(s)"
        return (
            f"{self.blobs_checked} of {self.blobs_total} blobs ({share:.0f}%) read back: {outcome}"
        )

    def derived(self) -> dict[str, Any]:
        return {"ok": self.ok}


def verify_snapshot(
    repo: Repository, options: VerifyOptions, ctx: OperationContext
) -> VerifySummary:
    """Read back ``options.percent`` of the snapshot's blobs (every stored copy of each)."""
    if not 0 < options.percent <= 100:
        raise UsageError(
            f"verify {options.percent:g}%: the share must be more than 0 and at most 100"
        )
    summary = VerifySummary()
    with repo.lock("verify", retry=ctx.lock_wait):
        repo.blobs.load_index(reload=True)
        snapshot = repo.snapshots.load(_snapshot_id(repo, options.snapshot))
        summary.snapshot_id = snapshot.id
        blobs: set[bytes] = set()
        try:
            for tree_id, nodes in unique_trees(
                repo.blobs.load_tree, [snapshot.tree], cancel=ctx.cancel
            ):
                blobs.add(tree_id)
                blobs.update(blob for node in nodes if node.type == FILE for blob in node.content)
        except (IntegrityError, BackendError) as error:
            summary.problems.append(
                f"a tree of snapshot {snapshot.short_id} cannot be read: {error}"
            )
        summary.blobs_total = len(blobs)
        chosen = _sample(sorted(blobs), options.percent, snapshot.id)
        for number, blob_id in enumerate(chosen, 1):
            ctx.cancel.check()
            _read_copies(repo, blob_id, summary)
            summary.blobs_checked += 1
            ctx.events.progress(
                "verify", files_done=number, files_total=len(chosen), final=number == len(chosen)
            )
    return summary


def _snapshot_id(repo: Repository, ref: str) -> str:
    """The one snapshot id starting with ``ref``."""
    found = [name for name in repo.snapshots.ids() if name.startswith(ref)]
    if len(found) != 1:
        what = "no snapshot" if not found else f"{len(found)} snapshots"
        raise SnapshotNotFoundError(f"{what} with an id starting with {ref!r}")
    return found[0]


def _sample(blobs: list[bytes], percent: float, seed: str) -> list[bytes]:
    """All of ``blobs``, or a seeded sample of ``percent`` of them (at least one)."""
    if percent >= 100 or not blobs:
        return blobs
    count = max(1, math.ceil(len(blobs) * percent / 100))
    return sorted(random.Random(seed).sample(blobs, count))


def _read_copies(repo: Repository, blob_id: bytes, summary: VerifySummary) -> None:
    copies = repo.blobs.index.candidates(blob_id)
    if not copies:
        summary.problems.append(f"blob {blob_id.hex()[:16]} is not in the index")
    for location in copies:
        summary.copies_checked += 1
        try:
            summary.bytes_read += len(repo.blobs.read_copy(location))
        except (IntegrityError, BackendError) as error:
            pack = location.pack_id.hex()[:16]
            summary.problems.append(f"blob {blob_id.hex()[:16]} in pack {pack}: {error}")
