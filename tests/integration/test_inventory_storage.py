"""A stored inventory is authenticated and validated: tampering is refused (issue 13).

Real repository, real backups of a few generated key files; each attack has its
positive control (the untouched inventory reads back).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tests.inventory_corpus import make_certificate

from keyark.archiver.backup import BackupOptions, backup
from keyark.catalog.inventories import sidecars, stored_inventory
from keyark.context import OperationContext
from keyark.errors import FormatError, IntegrityError
from keyark.inventory.model import Finding, Inventory
from keyark.inventory.query import FindingQuery
from keyark.repo.inventory import INVENTORY_PREFIX, decode_inventory, encode_inventory
from keyark.repo.repository import Repository


def _key_and_certificate(root: Path) -> None:
    root.mkdir()
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = make_certificate(
        "stored.example",
        key.public_key(),
        key,
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=3),
        serial=3,
    )
    (root / "a.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (root / "a.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _snapshot(
    repo: Repository, context: OperationContext, root: Path, *, inventory: bool = True
) -> str:
    summary = backup(repo, BackupOptions(paths=[str(root)], inventory=inventory), context)
    assert summary.snapshot_id
    return summary.snapshot_id


def test_inline_inventory_is_sealed_and_validated(
    repo: Repository, context: OperationContext, tmp_path: Path
) -> None:
    _key_and_certificate(tmp_path / "src")
    snapshot_id = _snapshot(repo, context, tmp_path / "src")
    stored = stored_inventory(repo, repo.snapshots.load(snapshot_id))
    assert stored.source == "snapshot" and stored.inventory is not None  # positive control
    assert {f.kind for f in stored.inventory.findings} == {"certificate", "private_key"}
    expiring = FindingQuery(expiring=timedelta(days=30)).select(
        stored.inventory.findings, datetime.now(UTC)
    )
    assert [f.kind for f in expiring] == ["certificate"]

    # A full-key writer's snapshot with a malformed inventory: refused, never half-read.
    bad = [
        zlib.compress(b"not json"),
        zlib.compress(json.dumps({"version": 1, "created": "x", "findings": []}).encode()),
        zlib.compress(json.dumps({"version": 1, "findings": [{"kind": "BAD KIND"}]}).encode()),
        b"\x78\x9c garbage",
    ]
    original = repo.snapshots.load(snapshot_id)
    for number, encoded in enumerate(bad):
        forged = replace(original, inventory=encoded, tags=[f"bad{number}"], id="")
        forged_id = repo.snapshots.save(forged)
        with pytest.raises(FormatError):
            stored_inventory(repo, repo.snapshots.load(forged_id))


def test_sidecar_is_refused_when_tampered_or_moved(
    repo: Repository, context: OperationContext, tmp_path: Path
) -> None:
    _key_and_certificate(tmp_path / "src")
    first = _snapshot(repo, context, tmp_path / "src", inventory=False)
    (tmp_path / "src" / "b.key").write_bytes((tmp_path / "src" / "a.key").read_bytes())
    second = _snapshot(repo, context, tmp_path / "src", inventory=False)
    assert stored_inventory(repo, repo.snapshots.load(first)).inventory is None
    finding = Finding(kind="private_key", path="/x.key", algorithm="EC secp256r1")
    sidecars(repo).save(first, Inventory(findings=[finding], created=datetime.now(UTC)))
    sidecars(repo).save(second, Inventory(findings=[], created=datetime.now(UTC)))
    loaded = stored_inventory(repo, repo.snapshots.load(first))
    assert loaded.source == "sidecar" and loaded.inventory is not None  # positive control
    assert loaded.inventory.findings == [finding]

    backend = repo.backend
    sealed = backend.get(INVENTORY_PREFIX + first)
    flipped = bytearray(sealed)
    flipped[-5] ^= 1
    backend.put(INVENTORY_PREFIX + first, bytes(flipped), overwrite=True)
    with pytest.raises(IntegrityError):
        stored_inventory(repo, repo.snapshots.load(first))
    # The second snapshot's (authentic) sidecar under the first's name: refused too.
    backend.put(INVENTORY_PREFIX + first, backend.get(INVENTORY_PREFIX + second), overwrite=True)
    with pytest.raises(IntegrityError):
        stored_inventory(repo, repo.snapshots.load(first))
    backend.put(INVENTORY_PREFIX + first, sealed, overwrite=True)  # restored: read again
    assert stored_inventory(repo, repo.snapshots.load(first)).inventory is not None


def test_encoded_inventory_round_trips() -> None:
    inventory = Inventory(
        findings=[Finding(kind="certificate", path="/c.pem", sans=("a", "b"), flags=("expired",))],
        created=datetime(2030, 1, 2, tzinfo=UTC),
    )
    assert decode_inventory(encode_inventory(inventory), "test") == inventory
