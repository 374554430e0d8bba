"""Any repository object as JSON-ready data, never key material (the ``debug cat`` operation)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from keyark.crypto.envelope import ObjectKind, envelope_key_id
from keyark.errors import NotFoundError, UsageError
from keyark.repo.config import CONFIG_NAME
from keyark.repo.index import decode_index
from keyark.repo.pack import PackEntry
from keyark.repo.repository import Repository
from keyark.repo.tree import decode_tree

T = TypeVar("T")

KINDS = ("config", "keyring", "key", "snapshot", "index", "pack", "blob", "lock")


def _unique(names: list[str], prefix: str, ref: str, kind: str) -> str:
    return only_match([n for n in names if n[len(prefix) :].startswith(ref)], ref, kind)


def only_match(matches: list[T], ref: str, kind: str) -> T:
    """The one object of ``kind`` that id (prefix) ``ref`` matched: NotFoundError for
    none, UsageError (give more digits) for several."""
    if not matches:
        raise NotFoundError(f"no {kind} with id {ref!r}")
    if len(matches) > 1:
        raise UsageError(f"{kind} id {ref!r} is ambiguous; give more digits")
    return matches[0]


def _entry(entry: PackEntry) -> dict[str, Any]:
    """One blob of a pack header or index record."""
    return {
        "type": "tree" if entry.kind else "data",
        "id": entry.blob_id.hex(),
        "offset": entry.offset,
        "length": entry.length,
        "raw_length": entry.raw_length,
        "compression": entry.compression,
    }


def cat(repo: Repository, kind: str, ref: str = "") -> dict[str, Any]:
    """A JSON-ready view of one object."""
    if kind == "config":
        stored = repo.keys.read_state(CONFIG_NAME)
        if stored is None:
            raise NotFoundError(f"no object {CONFIG_NAME!r}")
        view = json.loads(stored)
        view.pop("sealed", None)
        view["chunker"]["seed"] = "(sealed)"
        return dict(view)
    if kind == "keyring":
        return {
            "data_keys": [
                {
                    "id": dk.key_id.hex(),
                    "created": dk.created,
                    "state": dk.state,
                    "cipher": dk.key.cipher.name,
                }
                for dk in repo.keys.keyring.data_keys.values()
            ],
            "extra_fields": sorted(repo.keys.keyring.extra),
        }
    if kind == "key":
        slots = {s.slot_id: s for s in repo.keys.slots()}
        slot = slots[_unique(sorted(slots), "", ref, "key slot")]
        root = repo.keys.root_key
        authentic = root is not None and slot.reveal(root)
        return {
            "id": slot.slot_id,
            "kind": slot.kind,
            "created": slot.created,
            "host": slot.host,
            "username": slot.username,
            "label": slot.label,
            "authentic": authentic,
            "params": slot.params,
        }
    if kind == "snapshot":
        names = [f"snapshots/{i}" for i in repo.snapshots.ids()]
        name = _unique(names, "snapshots/", ref, "snapshot")
        return repo.snapshots.load(name.split("/")[1]).describe()
    if kind == "index":
        name = _unique(repo.packs.index_names(), "index/", ref, "index file")
        data = repo.packs.read_index_bytes(name)
        _packs, supersedes = decode_index(repo.keys.open_object(ObjectKind.INDEX, b"", data))
        packs = repo.blobs.read_index_file(name)
        return {
            "id": name.split("/")[1],
            "key_id": envelope_key_id(data).hex(),
            "supersedes": supersedes,
            "packs": [
                {
                    "id": p.pack_id.hex(),
                    "size": p.size,
                    "key_id": p.key_id.hex(),
                    "trusted": p.trusted,
                    "blobs": [_entry(e) for e in p.entries],
                }
                for p in packs
            ],
        }
    if kind == "pack":
        names = [n for n, _ in repo.packs.names()]
        name = _unique([n.split("/")[-1] for n in names], "", ref, "pack")
        entries = repo.blobs.read_pack_header(bytes.fromhex(name))
        return {
            "id": name,
            "blobs": [_entry(e) for e in entries],
        }
    if kind == "blob":
        repo.blobs.load_index()
        try:
            blob_id = bytes.fromhex(ref)
        except ValueError:
            raise UsageError("blob id must be 64 hex digits") from None
        location = repo.blobs.index.get(blob_id)
        if location is None:
            raise NotFoundError(f"blob {ref[:16]} is not in the index")
        data = repo.blobs.load_blob(blob_id)
        if location.kind == 1:
            return {"id": ref, "type": "tree", "nodes": [n.describe() for n in decode_tree(data)]}
        return {
            "id": ref,
            "type": "data",
            "size": len(data),
            "pack": location.pack_id.hex(),
            "trusted": location.trusted,
        }
    if kind == "lock":
        return {
            "locks": [
                {
                    "name": lock.name,
                    "host": lock.host,
                    "pid": lock.pid,
                    "user": lock.username,
                    "operation": lock.operation,
                    "exclusive": lock.exclusive,
                    "created": lock.created,
                    "expires": lock.expires,
                }
                for lock in repo.locks.read()
            ]
        }
    raise UsageError(f"unknown kind {kind!r}: use one of {', '.join(KINDS)}")
