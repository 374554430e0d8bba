"""One audit record and one signed checkpoint, and the bytes their chain covers.

A record says who (:class:`~keyark.context.Actor` fields), what (the operation, its
target, a digest of its secret-free parameters), when, and how it ended. Records of
one writer form a chain: each names the hash of the one before (``prev``) and carries
an HMAC over its canonical bytes under the repository's audit key. A checkpoint
signs a writer's newest sequence number and chain hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from keyark.errors import FormatError

#: The chain hash before a writer's first record.
GENESIS = "0" * 64
#: How an operation ended.
RESULTS: tuple[str, ...] = ("success", "failure", "started")


def canonical(document: dict[str, Any]) -> bytes:
    """Sorted keys, no whitespace: the bytes a MAC or signature covers."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class AuditRecord:
    """One audited event of one writer; ``mac`` authenticates every other field."""

    writer: str
    seq: int
    time: str
    operation: str
    result: str
    actor: dict[str, Any] = field(default_factory=dict)
    target: dict[str, Any] = field(default_factory=dict)
    params_digest: str = ""
    error_code: str | None = None
    #: The chain hash of the writer's previous record (:data:`GENESIS` for the first).
    prev: str = GENESIS
    mac: str = ""

    @property
    def ref(self) -> str:
        """The record's name in messages: ``<writer>/<seq>``."""
        return f"{self.writer}/{self.seq}"

    def body(self) -> dict[str, Any]:
        """Every field but the MAC (what the MAC covers)."""
        data = asdict(self)
        data.pop("mac")
        return data

    def chain_hash(self) -> str:
        """The hash the writer's next record names as ``prev`` (covers the MAC too)."""
        return hashlib.sha256(canonical(asdict(self))).hexdigest()

    def with_mac(self, mac: str) -> AuditRecord:
        """This record carrying ``mac``."""
        return replace(self, mac=mac)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (one line of the local log)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> AuditRecord:
        """Parse and type-check one record (storage and the state directory are untrusted)."""
        if not isinstance(data, dict):
            raise FormatError("audit record is not an object")
        names = {item.name for item in fields(cls)}
        if set(data) != names:
            raise FormatError("audit record has missing or unknown fields")
        strings = ("writer", "time", "operation", "result", "params_digest", "prev", "mac")
        if not all(isinstance(data[name], str) for name in strings):
            raise FormatError("audit record has a field of the wrong type")
        seq = data["seq"]
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
            raise FormatError("audit record sequence number is not a positive integer")
        if not isinstance(data["actor"], dict) or not isinstance(data["target"], dict):
            raise FormatError("audit record actor or target is not an object")
        if data["error_code"] is not None and not isinstance(data["error_code"], str):
            raise FormatError("audit record error code is not a string")
        return cls(**data)


@dataclass(frozen=True)
class Checkpoint:
    """A writer's chain head, signed: records up to ``seq`` cannot vanish unnoticed."""

    writer: str
    seq: int
    head: str
    time: str
    #: Ed25519 signature (hex) over the canonical bytes of the other fields.
    signature: str = ""

    def body(self) -> dict[str, Any]:
        """Every field but the signature (what it covers)."""
        data = asdict(self)
        data.pop("signature")
        return data

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> Checkpoint:
        """Parse and type-check one checkpoint."""
        if not isinstance(data, dict) or set(data) != {item.name for item in fields(cls)}:
            raise FormatError("audit checkpoint has missing or unknown fields")
        if not all(isinstance(data[name], str) for name in ("writer", "head", "time", "signature")):
            raise FormatError("audit checkpoint has a field of the wrong type")
        seq = data["seq"]
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
            raise FormatError("audit checkpoint sequence number is not a positive integer")
        return cls(**data)


__all__ = ["GENESIS", "RESULTS", "AuditRecord", "Checkpoint", "canonical"]
