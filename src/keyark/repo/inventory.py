"""Where a snapshot's key and certificate inventory is stored, and how it is read back.

A backup records its inventory inside the snapshot document (field ``inventory``):
sealed with the snapshot and, for a write-only agent, signed with it, so it has the
snapshot's own trust and no later writer can swap it. The field holds the
inventory's JSON document, zlib-compressed; old snapshots have no such field.

A snapshot saved without one (an older version, or a backup without inventory)
gets it afterwards as a *sidecar*: ``inventories/<snapshot-id>``, sealed with a
data key of the keyring (never a session key: an agent cannot forge one) and bound
to the snapshot id twice, in the envelope's associated data and in the sealed
document, so a sidecar moved to another snapshot's name is refused. Rewriting the
snapshot instead would change its id. The inventory inside the snapshot wins over
a sidecar.

Everything read back is untrusted input: sizes are bounded before and after
decompression and the document is validated by :meth:`Inventory.from_dict`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import msgpack

from keyark.backends.base import Backend
from keyark.crypto.envelope import ObjectKind, envelope_key_id
from keyark.errors import FormatError, IntegrityError, NotFoundError
from keyark.repo.fields import Fields, load_json, unpack_msgpack
from keyark.repo.keys import KeyStore
from keyark.repo.snapshot import MAX_INVENTORY, Snapshot

if TYPE_CHECKING:
    from keyark.inventory.model import Inventory

# keyark.inventory (its recognisers load cryptography's x509 and serialization) is
# imported where an inventory is decoded or rebuilt: every command opens a repository
# through this module, and listing snapshots must not pay for it (issue 11, section 3).

INVENTORY_PREFIX = "inventories/"
#: The largest inventory document (JSON) accepted after decompression.
MAX_DOCUMENT = 256 * 1024 * 1024
_SIDECAR_NAME = b"inventory\x00"


def encode_inventory(inventory: Inventory) -> bytes:
    """The stored form of ``inventory`` (compressed JSON, see
    :mod:`keyark.inventory.document`); FormatError when it is too large to store."""
    from keyark.inventory.document import encode_inventory_document

    return checked_size(encode_inventory_document(inventory))


def checked_size(encoded: bytes) -> bytes:
    """``encoded`` (an inventory's stored form), or FormatError when it is too large."""
    if len(encoded) > MAX_INVENTORY:
        raise FormatError(
            f"the inventory is too large to store ({len(encoded)} bytes compressed, "
            f"at most {MAX_INVENTORY})"
        )
    return encoded


def decode_inventory(encoded: bytes, what: str) -> Inventory:
    """The inventory ``encoded`` holds; FormatError (naming ``what``) if it is malformed."""
    inflater = zlib.decompressobj()
    try:
        document = inflater.decompress(encoded, MAX_DOCUMENT)
    except zlib.error:
        raise FormatError(f"{what}: the inventory is not valid compressed data") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise FormatError(f"{what}: the inventory is truncated or too large")
    data: Any = load_json(document, f"{what} inventory")
    if not isinstance(data, dict):
        raise FormatError(f"{what}: the inventory is not a JSON object")
    from keyark.inventory.model import Inventory

    try:
        return Inventory.from_dict(data)
    except FormatError:
        raise
    except (ValueError, TypeError, KeyError) as error:
        raise FormatError(f"{what}: the inventory is malformed ({error})") from None


class InventorySidecars:
    """Inventories stored beside snapshots that were saved without one (full key)."""

    def __init__(self, backend: Backend, keys: KeyStore) -> None:
        self._backend = backend
        self._keys = keys

    def save(self, snapshot_id: str, inventory: Inventory) -> None:
        """Seal ``inventory`` with the current data key as the sidecar of ``snapshot_id``."""
        plaintext = msgpack.packb(
            {"snapshot": snapshot_id, "inventory": encode_inventory(inventory)},
            use_bin_type=True,
        )
        sealer = self._keys.current_sealer()
        sealed = sealer.seal(ObjectKind.INVENTORY, _SIDECAR_NAME + snapshot_id.encode(), plaintext)
        self._backend.put(INVENTORY_PREFIX + snapshot_id, sealed, overwrite=True)

    def load(self, snapshot_id: str) -> Inventory | None:
        """The sidecar inventory of ``snapshot_id``, or None when it has none.

        IntegrityError when it is not sealed with a data key of the keyring or fails
        authentication; FormatError when it is malformed or names another snapshot.
        """
        what = f"inventory of snapshot {snapshot_id[:8]}"
        try:
            data = self._backend.get(INVENTORY_PREFIX + snapshot_id)
        except NotFoundError:
            return None
        key_id = envelope_key_id(data)
        if key_id not in self._keys.keyring.data_keys:
            raise IntegrityError(
                f"the {what} is not sealed with a data key of this repository "
                "(only a full-key holder writes one): it is refused"
            )
        name = _SIDECAR_NAME + snapshot_id.encode()
        raw = self._keys.sealer_for(key_id).open(ObjectKind.INVENTORY, name, data)
        fields = Fields(unpack_msgpack(raw, what), what)
        if fields.get_str("snapshot", max_len=128) != snapshot_id:
            raise IntegrityError(f"the {what} names another snapshot: it is refused")
        return decode_inventory(fields.get_bytes("inventory", max_len=MAX_INVENTORY), what)

    def ids(self) -> list[str]:
        """The snapshot ids that have a sidecar."""
        return [info.name[len(INVENTORY_PREFIX) :] for info in self._backend.list(INVENTORY_PREFIX)]

    def delete(self, snapshot_id: str) -> None:
        """Remove the sidecar of ``snapshot_id`` (missing is fine)."""
        try:
            self._backend.delete(INVENTORY_PREFIX + snapshot_id)
        except NotFoundError:
            pass


def inventory_without(encoded: bytes, removed: Iterable[str], what: str) -> bytes:
    """``encoded`` without the findings of ``removed`` paths (or paths below them),
    linked again (a rewrite that drops a key flags its certificate)."""
    from keyark.inventory.model import Inventory, link

    inventory = decode_inventory(encoded, what)
    gone = set(removed)

    def dropped(path: str) -> bool:
        return path in gone or any(path.startswith(item.rstrip("/") + "/") for item in gone)

    kept = [finding for finding in inventory.findings if not dropped(finding.path)]
    return encode_inventory(
        Inventory(findings=link(kept, inventory.created), created=inventory.created)
    )


def stored_inventory(snapshot: Snapshot, sidecars: InventorySidecars) -> bytes | None:
    """The encoded inventory of a snapshot loaded from the repository: inside it, else
    its sidecar's (re-encoded), else None."""
    if snapshot.inventory is not None:
        return snapshot.inventory
    found = sidecars.load(snapshot.id)
    return None if found is None else encode_inventory(found)


def snapshot_inventory(snapshot: Snapshot) -> Inventory | None:
    """The inventory recorded inside ``snapshot`` (loaded from the repository, not
    the catalog), or None."""
    if snapshot.inventory is None:
        return None
    return decode_inventory(snapshot.inventory, f"snapshot {snapshot.short_id}")


__all__ = [
    "INVENTORY_PREFIX",
    "InventorySidecars",
    "checked_size",
    "decode_inventory",
    "encode_inventory",
    "inventory_without",
    "snapshot_inventory",
    "stored_inventory",
]
