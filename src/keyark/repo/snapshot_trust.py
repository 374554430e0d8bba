"""Where a snapshot came from and how far it is trusted (design D9, D10).

A snapshot is written either by a full-key holder (sealed with a keyring data
key, no wrapper) or by a write-only agent (sealed with a session key, wrapped
with the agent's name and signature). What a snapshot document says about its
own provenance counts only when a full-key holder wrote it: ``copy`` records
``extra["provenance"]`` (agent and trust in the source repository) so trust
follows the data. A session-key snapshot that re-encryption moves under a data
key is first wrapped as ``unsigned`` (:func:`keep_provenance`), so re-sealing
never turns it into a full-key snapshot.
"""

from __future__ import annotations

from typing import Any

import msgpack

from keyark.crypto.agent_registry import current_trust, signature_status
from keyark.crypto.agents import FULL_KEY, TRUST_VALUES, TRUSTED, UNSIGNED, unwrap_signed
from keyark.crypto.keyring import Keyring
from keyark.errors import FormatError
from keyark.repo.snapshot import Snapshot

AGENT = "agent"
SIGNATURE = "signature"
TRUST = "trust"
PROVENANCE = "provenance"
ORIGIN = "copied_from"
#: The snapshot a ``rewrite`` or ``tag`` replacement was made from (restic's ``original``).
ORIGINAL = "original"
#: Extension fields only a full-key writer may set (dropped from anything else).
RESERVED = (AGENT, SIGNATURE, TRUST, PROVENANCE, ORIGIN, ORIGINAL)
_UNSIGNED_WRAPPER = "unsigned"


def wrap_unsigned(body: bytes) -> bytes:
    """The stored plaintext of a session-key snapshot re-sealed by a full-key holder."""
    return bytes(msgpack.packb({_UNSIGNED_WRAPPER: body}, use_bin_type=True))


def keep_provenance(keyring: Keyring, plaintext: bytes, key_id: bytes) -> bytes:
    """The plaintext to re-seal under a data key so the snapshot keeps its trust.

    A plain (unwrapped) snapshot that was sealed with a session key, not a keyring
    data key, is wrapped as unsigned; anything else is returned unchanged.
    """
    if key_id in keyring.data_keys:
        return plaintext
    if _unsigned_body(plaintext) is not None:
        return plaintext
    try:
        _body, agent, _signature = unwrap_signed(plaintext, "snapshot")
    except FormatError:
        agent = None
    return plaintext if agent is not None else wrap_unsigned(plaintext)


def _unsigned_body(raw: bytes) -> bytes | None:
    try:
        document = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    except (ValueError, TypeError, RecursionError, msgpack.UnpackException):
        return None
    if isinstance(document, dict) and set(document) == {_UNSIGNED_WRAPPER}:
        body = document[_UNSIGNED_WRAPPER]
        return body if isinstance(body, bytes) else None
    return None


def read_snapshot(
    keyring: Keyring, repo_id: str, snapshot_id: str, raw: bytes, key_id: bytes
) -> Snapshot:
    """Parse a verified snapshot plaintext and record its provenance in ``extra``.

    ``extra["agent"]`` names the writing agent (or the agent a copy came from);
    ``extra["signature"]`` holds the signature check for session-key snapshots.
    """
    what = f"snapshot {snapshot_id[:8]}"
    unsigned = _unsigned_body(raw)
    if unsigned is not None:
        body, agent, signature = unsigned, None, None
    else:
        body, agent, signature = unwrap_signed(raw, what)
    snapshot = Snapshot.from_bytes(snapshot_id, body, key_id.hex())
    if unsigned is None and agent is None and key_id in keyring.data_keys:
        provenance = snapshot.extra.get(PROVENANCE)
        for key in (AGENT, SIGNATURE, TRUST):
            snapshot.extra.pop(key, None)
        if provenance is not None:
            source_agent, _trust = parse_provenance(provenance, what)
            if source_agent:
                snapshot.extra[AGENT] = source_agent
        return snapshot
    for key in RESERVED:
        snapshot.extra.pop(key, None)
    if agent is not None:
        snapshot.extra[AGENT] = agent
    snapshot.extra[SIGNATURE] = signature_status(keyring, repo_id, body, agent, signature)
    return snapshot


def parse_provenance(value: Any, what: str) -> tuple[str, str]:
    """(agent, trust) of a copied snapshot's ``extra["provenance"]``."""
    if (
        not isinstance(value, dict)
        or not isinstance(value.get(AGENT, ""), str)
        or value.get(TRUST) not in TRUST_VALUES
    ):
        raise FormatError(f"{what} field 'provenance' is malformed")
    return str(value.get(AGENT, "")), str(value[TRUST])


def snapshot_trust(keyring: Keyring, snapshot: Snapshot) -> str:
    """Trust of ``snapshot`` now: ``full-key`` or ``signed`` (trusted), else flagged."""
    provenance = snapshot.extra.get(PROVENANCE)
    if provenance is not None and SIGNATURE not in snapshot.extra:
        try:
            return parse_provenance(provenance, f"snapshot {snapshot.short_id}")[1]
        except FormatError:
            return UNSIGNED
    recorded = snapshot.extra.get(SIGNATURE)
    return current_trust(
        keyring,
        snapshot.id,
        snapshot.host,
        snapshot.extra.get(AGENT),
        recorded if isinstance(recorded, str) else None,
    )


def is_agent_snapshot(snapshot: Snapshot) -> bool:
    """Whether an agent wrote ``snapshot`` (directly, or in the repository it was copied
    from), or it was not written by a full-key holder at all."""
    return any(key in snapshot.extra for key in (AGENT, SIGNATURE, PROVENANCE))


def provenance_of(keyring: Keyring, snapshot: Snapshot) -> dict[str, str] | None:
    """What ``copy`` records in the target for ``snapshot`` (None for a full-key one)."""
    trust = snapshot_trust(keyring, snapshot)
    if trust == FULL_KEY and not is_agent_snapshot(snapshot):
        return None
    agent = snapshot.extra.get(AGENT)
    return {AGENT: agent if isinstance(agent, str) else "", TRUST: trust}


__all__ = [
    "ORIGIN",
    "PROVENANCE",
    "TRUSTED",
    "is_agent_snapshot",
    "keep_provenance",
    "provenance_of",
    "read_snapshot",
    "snapshot_trust",
]
