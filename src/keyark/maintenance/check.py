"""``check``: structure always; with ``read_data`` every selected blob is decrypted and verified.

Each problem names the object, and for lost data the snapshots and files it
affects. Packs that no index names (from a killed backup) are harmless, and so
are temporary objects of killed writes: both are reported as notes.

Progress is reported per pack: ``structure`` (pack headers checked) and, with
``read_data``, ``read`` (packs and bytes read); every pack is a cancel checkpoint.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from keyark.cancel import NEVER, CancelToken
from keyark.context import OperationContext
from keyark.crypto.envelope import envelope_key_id
from keyark.errors import BackendError, FormatError, IntegrityError, UsageError
from keyark.events import Events
from keyark.maintenance.check_packs import (
    REPAIR_THE_PACK,
    duplicate_copies,
    record_damage,
    select_packs,
)
from keyark.maintenance.check_snapshots import check_snapshots, check_trees
from keyark.repo.full_disk import read_lock
from keyark.repo.index import BlobLocation, PackRecord, merge_pack_record
from keyark.repo.pack import TRAILER_SIZE, header_span, pack_id_from_name, pack_name, parse_header
from keyark.repo.repository import Repository
from keyark.results import CheckSummary, Problem

#: What the check says to do about a damaged index (face-neutral).
REPAIR_THE_INDEX = "repair the index"


@dataclass
class CheckOptions:
    """Verify every blob (``read_data``), or those of a subset of the packs (``N%`` or ``n/t``)."""

    read_data: bool = False
    subset: str | None = None


class Checker:
    """Runs one check and collects problems (progress and cancel through ``events``/``cancel``)."""

    def __init__(
        self, repo: Repository, events: Events | None = None, cancel: CancelToken = NEVER
    ) -> None:
        self.repo = repo
        self.events = events or Events()
        self.cancel = cancel
        self.summary = CheckSummary()
        self._lock = threading.Lock()
        self.bad_blobs: dict[bytes, str] = {}
        #: Blobs whose damage is already reported by a pack problem (affected items go there).
        self.blob_problems: dict[bytes, Problem] = {}
        self.records: dict[bytes, PackRecord] = {}
        self.lost: set[bytes] = set()
        #: (blob id, pack id) of every copy known to be bad or gone.
        self.bad_copies: dict[tuple[bytes, bytes], str] = {}
        #: Packs that could not be read now (a storage error, maybe passing): not damage.
        self.unreachable: set[bytes] = set()
        #: Packs whose data was read and verified.
        self.read_packs: set[bytes] = set()

    def problem(
        self, kind: str, obj: str, message: str, harmless: bool = False, repair: bool = False
    ) -> Problem:
        """Record a problem; ``repair``: a damaged pack that ``repair packs`` salvages."""
        found = Problem(kind, obj, message, harmless=harmless, repair_pack=repair)
        with self._lock:
            self.summary.problems.append(found)
        return found

    # ----------------------------------------------------------------- index and packs
    def check_index(self) -> None:
        """Index files readable; every indexed pack stored, of the right size and content."""
        repo = self.repo
        for index_name in repo.packs.index_names():
            try:
                for record in repo.blobs.read_index_file(index_name):
                    repo.blobs.add_record(record)
                    other = merge_pack_record(self.records, record)
                    if other is not None:
                        self.problem(
                            "index",
                            index_name,
                            f"lists pack {record.pack_id.hex()[:16]} with {record.size} bytes, "
                            f"another index file with {other}; {REPAIR_THE_INDEX}",
                        )
            except (IntegrityError, BackendError) as error:
                self.problem("index", index_name, f"{error}; {REPAIR_THE_INDEX}")
        stored: dict[bytes, int] = {}
        for name, size in repo.packs.names():
            pack_id = pack_id_from_name(name)
            if pack_id is None:
                self.problem("pack", name, "unexpected object in data/", harmless=True)
                continue
            stored[pack_id] = size
        readable: list[bytes] = []
        for pack_id, record in self.records.items():
            if pack_id not in stored:
                self.lose_pack(pack_id, "pack is missing from storage")
            elif stored[pack_id] != record.size:
                self.lose_pack(
                    pack_id,
                    f"pack has {stored[pack_id]} bytes, index says {record.size} (truncated?)",
                )
            else:
                readable.append(pack_id)
        for pack_id in stored.keys() - self.records.keys():
            self.problem(
                "pack",
                pack_name(pack_id),
                "pack is not in any index (left by an interrupted backup or a pack repair; "
                "prune removes it)",
                harmless=True,
            )
        self._per_pack("structure", self.check_pack_header, readable)
        self.note_duplicates()
        self.summary.packs = len(stored)
        self.summary.blobs = len(repo.blobs.index)

    def note_duplicates(self) -> None:
        """Note blob copies stored more than once: unused space, as prune counts it."""
        copies, extra_bytes = duplicate_copies(self.records.values())
        if copies:
            self.problem(
                "index",
                "",
                f"{copies} blob copies ({extra_bytes} bytes) are stored more than once: "
                "unused space, which prune repacks away once the unused space is above "
                "its limit (at once with a limit of 0)",
                harmless=True,
            )

    def check_temporaries(self) -> None:
        """Note the temporary objects killed writes left (harmless; prune removes them)."""
        try:
            report = self.repo.scan_temporaries()
        except BackendError as error:
            self.problem("storage", "temporary objects", f"cannot list: {error}", harmless=True)
            return
        if report.found:
            self.problem("storage", "temporary objects", report.describe(), harmless=True)

    def lose_pack(
        self, pack_id: bytes, message: str, *, damaged: bool = True, repair: bool = False
    ) -> None:
        """Report a pack whose blobs cannot be read; snapshots using them are added later.

        A pack that is not ``damaged`` failed to be read now (a storage error): its
        copies are not recorded as damaged.
        """
        found = self.problem("pack", pack_name(pack_id), message, repair=repair)
        if not damaged:
            self.unreachable.add(pack_id)
        self.lost.add(pack_id)
        reason = f"pack {pack_id.hex()[:16]}: {message}"
        with self._lock:
            for entry in self.records[pack_id].entries:
                self._blob_lost(entry.blob_id, pack_id, reason, found)

    def _blob_lost(self, blob_id: bytes, pack_id: bytes, reason: str, found: Problem) -> None:
        """The copy in ``pack_id`` is gone: the blob is lost when no other copy survives."""
        self.bad_copies[(blob_id, pack_id)] = reason
        candidates = self.repo.blobs.index.candidates(blob_id)
        if all((blob_id, c.pack_id) in self.bad_copies for c in candidates):
            self.bad_blobs[blob_id] = reason
            self.blob_problems[blob_id] = found

    def check_pack_header(self, pack_id: bytes) -> None:
        """The pack's own header must list every blob the index places in it."""
        self.cancel.check()
        record = self.records[pack_id]
        try:
            header = self.repo.blobs.read_pack_header(pack_id, record.size)
        except (IntegrityError, BackendError) as error:
            damaged = isinstance(error, IntegrityError)
            advice = f"; {REPAIR_THE_PACK}" if damaged else ""
            message = f"pack header cannot be read: {error}{advice}"
            self.lose_pack(pack_id, message, damaged=damaged, repair=damaged)
            return
        contained = set(header)
        orphaned = [e for e in record.entries if e not in contained]
        if orphaned:
            message = (
                f"index lists {len(orphaned)} blob(s) the pack does not contain "
                f"(orphaned index entries); {REPAIR_THE_INDEX}"
            )
            found = self.problem("pack", pack_name(pack_id), message)
            with self._lock:
                for entry in orphaned:
                    self._blob_lost(entry.blob_id, pack_id, message, found)
        unlisted = len(contained - set(record.entries))
        if unlisted:
            self.problem(
                "pack",
                pack_name(pack_id),
                f"pack holds {unlisted} blob(s) no index lists (repairing the index adds them)",
                harmless=True,
            )

    # ----------------------------------------------------------------- data
    def read_pack(self, pack_id: bytes) -> int:
        """Read one pack whole and verify every blob in it; return the bytes read."""
        self.cancel.check()
        repo = self.repo
        name = pack_name(pack_id)
        try:
            data = repo.packs.read(pack_id)
        except BackendError as error:
            self.problem("pack", name, f"cannot read: {error}")
            return 0
        self.read_packs.add(pack_id)
        try:
            if hashlib.sha256(data).digest() != pack_id:
                raise IntegrityError("content does not match its SHA-256 name")
            offset, length = header_span(len(data), data[-TRAILER_SIZE:])
            sealed = data[offset : offset + length]
            key_id = envelope_key_id(sealed)
            entries = parse_header(repo.keys.sealer_for(key_id), sealed)
        except (IntegrityError, FormatError) as error:
            self.problem("pack", name, f"pack is damaged: {error}; {REPAIR_THE_PACK}", repair=True)
            # Fall back to the index's view to find which blobs survive.
            entries = []
            for location in repo.blobs.index.all_locations():
                if location.pack_id == pack_id:
                    self._verify_blob(location, data, name)
            return len(data)
        trusted = self.records[pack_id].trusted
        for entry in entries:
            location = BlobLocation.in_pack(pack_id, entry, key_id, trusted)
            self._verify_blob(location, data, name)
        return len(data)

    def _verify_blob(self, location: BlobLocation, data: bytes, name: str) -> None:
        """Verify one copy; a bad copy is reported with its pack and who wrote it."""
        sealed = data[location.offset : location.offset + location.length]
        try:
            if len(sealed) != location.length:
                raise IntegrityError("blob extends past the end of the pack")
            self.repo.blobs.decode_blob(location, sealed)
        except IntegrityError as error:
            writer = "full-key" if location.trusted else "agent-written (untrusted)"
            reason = f"{name}: {error}"
            with self._lock:
                self.bad_copies[(location.blob_id, location.pack_id)] = reason
            self.problem(
                "pack",
                name,
                f"copy of blob {location.blob_id.hex()[:16]} does not verify "
                f"({writer} copy in pack {location.pack_id.hex()[:16]}): {error}; "
                + REPAIR_THE_PACK,
                repair=True,
            )

    def settle_bad_copies(self) -> None:
        """A blob is bad only when none of its copies verifies."""
        for (blob_id, _pack_id), reason in list(self.bad_copies.items()):
            candidates = self.repo.blobs.index.candidates(blob_id)
            if all((blob_id, c.pack_id) in self.bad_copies for c in candidates):
                self.bad_blobs.setdefault(blob_id, reason)

    def check_data(self, subset: str | None) -> None:
        """Read the packs ``subset`` selects (all when None) and verify every blob."""
        packs = select_packs(sorted(self.records.keys() - self.lost), subset)
        total = sum(self.records[p].size for p in packs)
        for size in self._per_pack("read", self.read_pack, packs, total):
            self.summary.packs_read += 1
            self.summary.bytes_read += size

    def _per_pack(
        self,
        phase: str,
        work: Callable[[bytes], int | None],
        packs: list[bytes],
        bytes_total: int | None = None,
    ) -> list[int]:
        """Run ``work`` on every pack in parallel, reporting progress as each one ends."""
        workers = max(2, self.repo.connections)
        done = done_bytes = 0
        results: list[int] = []
        with ThreadPoolExecutor(workers, thread_name_prefix="keyark-check") as pool:
            for size in pool.map(work, packs):
                done += 1
                done_bytes += size or 0
                results.append(size or 0)
                self.events.progress(
                    phase,
                    files_done=done,
                    files_total=len(packs),
                    bytes_done=done_bytes,
                    bytes_total=bytes_total,
                    final=done == len(packs),
                )
                self.cancel.check()
        return results

    def record_damage(self) -> None:
        """Remember the damaged copies, so this client's backups store that content again."""
        damaged = [copy for copy in self.bad_copies if copy[1] not in self.unreachable]
        try:
            record_damage(self.repo, damaged, self.records.keys(), self.read_packs)
        except OSError as error:  # the cache is a help, never a reason to fail a check
            self.problem("storage", "damage record", f"cannot be saved: {error}", harmless=True)


def check(
    repo: Repository, options: CheckOptions | None = None, ctx: OperationContext | None = None
) -> CheckSummary:
    """Verify the repository; the summary lists every problem and what it affects.

    ``ctx`` gives the events, the cancel token and the lock wait (default: the
    repository's bound events and cancel token, no wait).
    """
    options = options or CheckOptions()
    if options.read_data and options.subset:
        raise UsageError("read every pack or a subset of them, not both")
    ctx = ctx or OperationContext(events=repo.events, cancel=repo.cancel)
    started = time.monotonic()
    checker = Checker(repo, ctx.events, ctx.cancel)
    with read_lock(repo, "check", ctx.lock_wait, ctx.events):  # none on a full disk
        checker.check_index()
        checker.check_temporaries()
        snapshots = check_snapshots(checker)
        if options.read_data or options.subset:
            checker.check_data(options.subset)
        checker.settle_bad_copies()
        check_trees(checker, snapshots)
        checker.record_damage()
    # Damaged blobs that no snapshot uses are still damage.
    reported = {p.object for p in checker.summary.problems}
    for blob_id, reason in checker.bad_blobs.items():
        if blob_id.hex()[:16] not in reported and blob_id not in checker.blob_problems:
            checker.problem("blob", blob_id.hex()[:16], f"{reason} (used by no snapshot)")
    checker.summary.duration_seconds = time.monotonic() - started
    return checker.summary


__all__ = [
    "REPAIR_THE_INDEX",
    "REPAIR_THE_PACK",
    "CheckOptions",
    "Checker",
    "check",
    "select_packs",
]
