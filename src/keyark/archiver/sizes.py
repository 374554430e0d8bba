"""How much a backup adds: plain bytes and stored (compressed, sealed) bytes.

restic reports both for every run, a dry run included: ``data_added`` (the plain size
of the new blobs) and ``data_added_packed`` (what they take in storage). A real
run's store says what sealing a blob added; a dry run stores nothing, so the stored
size of a new blob is estimated by compressing it as a save would and adding the
envelope's nonce and tag (exact but for the pack header).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from keyark.crypto.envelope import NONCE_SIZE, TAG_SIZE
from keyark.repo import objects
from keyark.repo.blob_writer import BlobWriter


@dataclass
class Added:
    """The plain bytes of the new blobs one item (a file, a tree) added.

    Appended to from the chunk workers (``list.append`` is atomic).
    """

    sizes: list[int] = field(default_factory=list)

    @property
    def plain(self) -> int:
        """The plain size of every new blob counted so far."""
        return sum(self.sizes)


class SizedStore:
    """Saves blobs (or in a dry run only looks them up) and says what each added.

    Calling it returns ``(blob id, stored bytes added, is new)`` like any
    :data:`~keyark.repo.objects.Store`; :meth:`for_item` gives a store that also
    records the plain size of the new blobs in an :class:`Added`.
    """

    def __init__(self, blobs: BlobWriter, *, dry_run: bool) -> None:
        self._blobs = blobs
        self._dry_run = dry_run
        self._base: objects.Store = objects.DryRun(blobs) if dry_run else objects.saving(blobs)

    def __call__(self, kind: int, data: bytes | memoryview) -> tuple[bytes, int, bool]:
        return self.save(kind, data, None)

    def save(
        self, kind: int, data: bytes | memoryview, added: Added | None
    ) -> tuple[bytes, int, bool]:
        """Save one blob; count its plain size in ``added`` when it is new."""
        blob_id, stored, new = self._base(kind, data)
        if new:
            if self._dry_run:
                stored = len(self._blobs.compressor.compress(data)[1]) + NONCE_SIZE + TAG_SIZE
            if added is not None:
                added.sizes.append(len(data))
        return blob_id, stored, new

    def for_item(self) -> tuple[objects.Store, Added]:
        """A store for one item's blobs and the tally of what they added."""
        added = Added()

        def store(kind: int, data: bytes | memoryview) -> tuple[bytes, int, bool]:
            return self.save(kind, data, added)

        return store, added


__all__ = ["Added", "SizedStore"]
