"""A compact map from 32-byte blob ids to row numbers, for the master index.

A ``dict[bytes, int]`` costs about 130 bytes per blob (a ``bytes`` key object, an
``int`` and the dict's own entry); this table costs about 50: every row's id sits
in one contiguous ``bytearray`` (32 bytes a row, in row order) and an
open-addressing hash table (an ``array('q')``, a power of two at least 1.4 times
the number of ids) points at them. A slot holds -1 (empty) or ``tag << 32 | row``,
``tag`` being 31 bits of the id's hash: a probe compares ids only when the tags
agree, and growing rehashes from the tags alone (no id is read or hashed again).
Probing is quadratic (triangular steps, which visit every slot of a power-of-two
table). Nothing is ever removed, so there are no tombstones.

Several rows may carry the same id (other copies of a blob); the table points
each distinct id at one of them (the master index's best copy) and the caller
keeps track of the others.

Collisions: the slot and tag of an id come from ``hash(blob_id)``, and Python's
hash of ``bytes`` is SipHash keyed with a per-process random seed, so a writer
who chooses blob ids (an agent writing crafted index entries) cannot predict
which ids collide in a reader's table and cannot make its lookups slow. The
tests force collisions with a test-only hash function to show lookups stay
correct.

Concurrency: the caller serialises writers. Readers need no lock: a row's data
and id are stored before a lookup can match it (a slot claimed for a row not yet
stored never compares equal), and growing builds a new slot array that replaces
the old one in a single assignment, so a reader sees either table.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Sequence

#: Bytes per blob id.
ID_SIZE = 32
#: Slots per id never below 10/7 (load factor at most 0.7).
_LOAD_NUMERATOR, _LOAD_DENOMINATOR = 7, 10
_EMPTY = -1
_TAG = 0x7FFF_FFFF  # 31 hash bits: tag << 32 | row stays a non-negative int64
_ROW = 0xFFFF_FFFF
#: Rows addressable by a slot.
MAX_ROWS = _ROW


def _capacity_for(count: int, at_least: int = 8) -> int:
    """The smallest power of two at or above ``at_least`` that holds ``count`` ids."""
    capacity = at_least
    while capacity * _LOAD_NUMERATOR < count * _LOAD_DENOMINATOR:
        capacity *= 2
    return capacity


class BlobTable:
    """Blob id -> row number, rows' ids stored contiguously (see the module docstring).

    ``hasher`` exists for tests that force collisions; keyark uses ``hash``.
    """

    def __init__(self, capacity: int = 8, hasher: Callable[[object], int] = hash) -> None:
        if capacity < 1 or capacity & (capacity - 1):
            raise ValueError("capacity must be a power of two")
        self._ids = bytearray()
        self._slots = array("q", [_EMPTY]) * capacity
        self._keys = 0
        self._hash = hasher

    def __len__(self) -> int:
        """How many distinct ids the table maps."""
        return self._keys

    @property
    def rows(self) -> int:
        """How many rows (ids, duplicates included) are stored."""
        return len(self._ids) // ID_SIZE

    @property
    def capacity(self) -> int:
        """Slots in the hash table (a power of two)."""
        return len(self._slots)

    def nbytes(self) -> int:
        """Bytes held by the id store and the slot array."""
        return len(self._ids) + self._slots.itemsize * len(self._slots)

    def blob_id(self, row: int) -> bytes:
        """The id stored at ``row``."""
        start = row * ID_SIZE
        return bytes(self._ids[start : start + ID_SIZE])

    def ids(self, rows: int) -> Iterator[bytes]:
        """The ids of rows 0 .. ``rows`` - 1, in row order (duplicates included)."""
        store = self._ids
        for start in range(0, rows * ID_SIZE, ID_SIZE):
            yield bytes(store[start : start + ID_SIZE])

    def find(self, blob_id: object) -> int:
        """The row ``blob_id`` points at, or -1 when the table does not map it."""
        slots = self._slots  # one read: a concurrent grow swaps the whole array
        mask = len(slots) - 1
        ids = self._ids
        tag = self._hash(blob_id) & _TAG
        i = tag & mask
        step = 0
        while True:
            value = slots[i]
            if value < 0:
                return _EMPTY
            if value >> 32 == tag:
                row = value & _ROW
                start = row * ID_SIZE
                if ids[start : start + ID_SIZE] == blob_id:
                    return row
            step += 1
            i = (i + step) & mask

    def add(self, blob_ids: Sequence[bytes], store: Callable[[list[int]], None]) -> list[int]:
        """Add rows for the ids not yet mapped, in one pass.

        ``store`` gets the positions (in ``blob_ids``) of the new rows, in row
        order, and must store their data (row ``rows + k`` for the k-th) before the
        ids become visible; if it raises, the table is left as it was. Returns the
        positions of the ids that were already mapped (or listed twice: the first
        is added, the others returned), which the caller ranks one by one.
        """
        if set(map(len, blob_ids)) - {ID_SIZE}:
            raise ValueError("blob ids must be 32 bytes each")
        stored = self.rows
        if stored + len(blob_ids) > MAX_ROWS:
            raise OverflowError("too many blobs for one index")
        if self._over_full(self._keys + len(blob_ids)):
            self._grow(self._keys + len(blob_ids))
        slots = self._slots
        mask = len(slots) - 1
        ids = self._ids
        hasher = self._hash
        tag_bits = _TAG
        known: list[int] = []  # positions of ids already mapped
        positions: list[int] = []  # position in blob_ids of each new row
        new_row = stored
        for position, blob_id in enumerate(blob_ids):
            tag = hasher(blob_id) & tag_bits
            i = tag & mask
            step = 0
            while True:
                value = slots[i]
                if value < 0:
                    slots[i] = tag << 32 | new_row
                    new_row += 1
                    positions.append(position)
                    break
                if value >> 32 == tag:
                    row = value & _ROW
                    if row >= stored:
                        same = blob_ids[positions[row - stored]] == blob_id
                    else:
                        same = ids[row * ID_SIZE : (row + 1) * ID_SIZE] == blob_id
                    if same:
                        known.append(position)
                        break
                step += 1
                i = (i + step) & mask
        try:
            store(positions)
        except BaseException:
            # The claimed slots (rows from ``stored`` on) were empty before: emptying
            # them again leaves every older probe chain intact.
            for i, value in enumerate(slots):
                if value >= 0 and value & _ROW >= stored:
                    slots[i] = _EMPTY
            raise
        if len(positions) == len(blob_ids):
            self._ids += b"".join(blob_ids)
        else:
            self._ids += b"".join([blob_ids[p] for p in positions])
        self._keys += len(positions)
        return known

    def append(self, blob_id: bytes, store: Callable[[], None]) -> int:
        """Store one row with this id, not mapped (another copy of a mapped blob, or
        one :meth:`point` maps next); returns its row number. ``store`` stores the
        row's data first (if it raises, nothing changes)."""
        if len(blob_id) != ID_SIZE:
            raise ValueError("blob ids must be 32 bytes each")
        if self.rows >= MAX_ROWS:
            raise OverflowError("too many blobs for one index")
        store()
        self._ids += blob_id
        return self.rows - 1

    def point(self, blob_id: bytes, row: int) -> None:
        """Map ``blob_id`` (the id stored at ``row``) to ``row``, replacing any mapping."""
        current = self.find(blob_id)
        if current < 0 and self._over_full(self._keys + 1):
            self._grow(self._keys + 1)
        slots = self._slots
        mask = len(slots) - 1
        tag = self._hash(blob_id) & _TAG
        # Nothing is ever removed, so the probe meets the id's slot (or, for a new
        # id, an empty one) where find() stopped.
        wanted = tag << 32 | current if current >= 0 else _EMPTY
        i = tag & mask
        step = 0
        while slots[i] != wanted and slots[i] >= 0:
            step += 1
            i = (i + step) & mask
        if current < 0:
            self._keys += 1
        slots[i] = tag << 32 | row

    def _over_full(self, keys: int) -> bool:
        """Whether ``keys`` ids would load the slots beyond 0.7."""
        return keys * _LOAD_DENOMINATOR > len(self._slots) * _LOAD_NUMERATOR

    def _grow(self, keys: int) -> None:
        """Rehash every mapping into a table sized for ``keys`` (then swap it in)."""
        slots = array("q", [_EMPTY]) * _capacity_for(keys, 2 * len(self._slots))
        mask = len(slots) - 1
        for value in self._slots:
            if value < 0:
                continue
            i = (value >> 32) & mask
            step = 0
            while slots[i] >= 0:
                step += 1
                i = (i + step) & mask
            slots[i] = value
        self._slots = slots
