"""An inventory's stored form: compact JSON, zlib-compressed.

The document is :meth:`Inventory.to_dict`'s, each finding without its empty fields
(None, empty lists): :meth:`Finding.from_dict` reads those back as their defaults, so a
compact document and a full one give the same inventory (a reader of either version
reads both). Leaving them out roughly halves the document, and with it the time a
backup spends encoding it.

:func:`assemble` is the one end of a backup's recording, shared by the backup process
(few candidates, or a failed worker) and the recognition worker: the findings of the
files saved, linked across files, encoded.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from keyark.inventory.finding import INVENTORY_VERSION, Finding, Inventory

#: zlib's level for the stored document: level 1 is about twice as fast as the
#: default (6) on inventories and their JSON compresses well at either.
COMPRESSION_LEVEL = 1

_TIME_FIELDS = ("not_before", "not_after")


def compact_finding(finding: Finding) -> dict[str, Any]:
    """:meth:`Finding.to_dict` without None and empty fields (their defaults)."""
    data: dict[str, Any] = {}
    for name, value in finding.__dict__.items():
        if value is None or value == ():
            continue
        if type(value) is tuple:
            value = list(value)
        elif name in _TIME_FIELDS:
            value = value.astimezone(UTC).isoformat()
        data[name] = value
    return data


def encode_document(findings: Iterable[Finding], created: datetime) -> bytes:
    """The stored form of the inventory of ``findings`` made at ``created`` (no size
    bound: see :func:`keyark.repo.inventory.encode_inventory`)."""
    document = {
        "version": INVENTORY_VERSION,
        "created": created.astimezone(UTC).isoformat(),
        "findings": [compact_finding(finding) for finding in findings],
    }
    text = json.dumps(document, separators=(",", ":"), sort_keys=True)
    return zlib.compress(text.encode(), COMPRESSION_LEVEL)


def encode_inventory_document(inventory: Inventory) -> bytes:
    """:func:`encode_document` of ``inventory``."""
    return encode_document(inventory.findings, inventory.created)


def assemble(found: Mapping[str, list[Finding]], now: datetime) -> bytes:
    """The stored form of a backup's inventory: ``found`` (findings by saved path), in
    path order, linked across files as of ``now``."""
    from keyark.inventory.linking import link

    findings = [finding for path in sorted(found) for finding in found[path]]
    return encode_document(link(findings, now), now)


__all__ = [
    "COMPRESSION_LEVEL",
    "assemble",
    "compact_finding",
    "encode_document",
    "encode_inventory_document",
]
