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
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from keyark.inventory.finding import INVENTORY_VERSION, Finding, Inventory

#: zlib's level for the stored document: level 1 is about twice as fast as the
#: default (6) on inventories and their JSON compresses well at either.
COMPRESSION_LEVEL = 1

_TIME_FIELDS = ("not_before", "not_after")
_TUPLE_FIELDS = tuple(
    field.name for field in fields(Finding) if field.type in ("tuple[str, ...]", tuple[str, ...])
)


def compact_finding(finding: Finding) -> dict[str, Any]:
    """:meth:`Finding.to_dict` without None and empty fields (their defaults)."""
    data: dict[str, Any] = {
        name: value for name, value in finding.__dict__.items() if value is not None and value != ()
    }
    for name in _TUPLE_FIELDS:
        value = data.get(name)
        if value is not None:
            data[name] = list(value)
    for name in _TIME_FIELDS:
        value = data.get(name)
        if value is not None:
            data[name] = value.astimezone(UTC).isoformat()
    return data


#: Compact forms already made, by ``id()`` of their finding: ``(finding, form)``.
Compacted = Mapping[int, tuple[Finding, dict[str, Any]]]


def encode_document(findings: Iterable[Finding], created: datetime) -> bytes:
    """The stored form of the inventory of ``findings`` made at ``created`` (no size
    bound: see :func:`keyark.repo.inventory.encode_inventory`)."""
    return _encode_forms([compact_finding(finding) for finding in findings], created)


def _encode_forms(forms: list[dict[str, Any]], created: datetime) -> bytes:
    document = {
        "version": INVENTORY_VERSION,
        "created": created.astimezone(UTC).isoformat(),
        "findings": forms,
    }
    text = json.dumps(document, separators=(",", ":"), sort_keys=True)
    return zlib.compress(text.encode(), COMPRESSION_LEVEL)


def encode_inventory_document(inventory: Inventory) -> bytes:
    """:func:`encode_document` of ``inventory``."""
    return encode_document(inventory.findings, inventory.created)


def assemble(
    found: Mapping[str, list[Finding]], now: datetime, compacted: Compacted | None = None
) -> bytes:
    """The stored form of a backup's inventory: ``found`` (findings by saved path), in
    path order, linked across files as of ``now``.

    ``compacted`` holds compact forms already made (the worker makes each as it answers):
    a finding found there (as the same object) is not compacted again, and one that
    linking gave other flags takes its form with the flags replaced, the one field
    linking changes.
    """
    from keyark.inventory.linking import link

    findings = [finding for path in sorted(found) for finding in found[path]]
    linked = link(findings, now)
    if not compacted:
        return encode_document(linked, now)
    forms = [_relinked(old, new, compacted) for old, new in zip(findings, linked, strict=True)]
    return _encode_forms(forms, now)


def _relinked(old: Finding, new: Finding, compacted: Compacted) -> dict[str, Any]:
    """The compact form of ``new``, which :func:`link` made of ``old`` (``new`` is
    ``old``, or ``old`` with other flags)."""
    entry = compacted.get(id(old))
    if entry is None or entry[0] is not old:
        return compact_finding(new)
    if new is old:
        return entry[1]
    form = dict(entry[1])
    if new.flags:
        form["flags"] = list(new.flags)
    else:
        form.pop("flags", None)
    return form


__all__ = [
    "COMPRESSION_LEVEL",
    "Compacted",
    "assemble",
    "compact_finding",
    "encode_document",
    "encode_inventory_document",
]
