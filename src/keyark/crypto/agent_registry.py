"""The registry of write-only agents in the keyring, and snapshot trust (design D4, D9).

``keyring.extra["agents"][name]`` holds, per agent: ``public`` (Ed25519),
``created``, ``hosts`` (the host names it may claim), ``revoked`` (a time, for
people only: no decision uses it) and ``accepted`` (ids of the agent's snapshots
that were trusted when it was revoked). ``keyring.extra["recipient"]`` holds the
recipient key pair session keys are wrapped to.

Trust of a snapshot is decided in two steps: when it is read, its signature is
checked against the registered key (:func:`signature_status`, a value the
catalog may cache); every time it is used, the registry's current state (hosts,
revocation) is applied (:func:`current_trust`). Nothing depends on a time the
agent chose.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from keyark.crypto.agents import (
    BAD_SIGNATURE,
    FOREIGN_HOST,
    FULL_KEY,
    REVOKED_AGENT,
    SIGNED,
    TRUST_VALUES,
    UNKNOWN_AGENT,
    UNSIGNED,
    check_hosts,
    signature_valid,
)
from keyark.crypto.keyring import Keyring
from keyark.crypto.recipients import Recipient
from keyark.errors import Hint, UsageError


def recipient_of(keyring: Keyring) -> Recipient | None:
    """The repository's recipient key pair, if an agent was ever added."""
    data = keyring.extra.get("recipient")
    return Recipient.from_dict(data) if data else None


def agents_of(keyring: Keyring) -> dict[str, dict[str, Any]]:
    """The registry (a mutable view into the keyring)."""
    agents: dict[str, dict[str, Any]] = keyring.extra.setdefault("agents", {})
    return agents


def hosts_of(entry: Mapping[str, Any]) -> list[str]:
    """The host names a registry entry may claim (none when the entry is malformed)."""
    hosts = entry.get("hosts")
    if not isinstance(hosts, list):
        return []
    return [host for host in hosts if isinstance(host, str)]


def accepted_of(entry: Mapping[str, Any]) -> list[str]:
    """Ids of the agent's snapshots accepted at revocation."""
    accepted = entry.get("accepted")
    if not isinstance(accepted, list):
        return []
    return [item for item in accepted if isinstance(item, str)]


def register(keyring: Keyring, name: str, signing_public: bytes, hosts: Iterable[str]) -> None:
    """Add agent ``name`` (never re-using a name, revoked or not) for ``hosts``."""
    agents = agents_of(keyring)
    if name in agents:
        state = "revoked" if agents[name].get("revoked") is not None else "registered"
        raise UsageError(f"agent {name!r} already exists ({state}); choose another name")
    agents[name] = {
        "public": signing_public,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "hosts": check_hosts(list(hosts)),
        "revoked": None,
        "accepted": [],
    }


def revoke(keyring: Keyring, name: str, accepted: Iterable[str]) -> dict[str, Any]:
    """Mark ``name`` revoked, keeping trust only in the ``accepted`` snapshot ids."""
    entry = agents_of(keyring).get(name)
    if entry is None:
        raise UsageError(f"no agent named {name!r}", hint=Hint.AGENT_LIST)
    if entry.get("revoked") is None:
        entry["revoked"] = datetime.now(UTC).isoformat(timespec="seconds")
        entry["accepted"] = sorted(set(accepted))
    return entry


def signature_status(
    keyring: Keyring, repo_id: str, body: bytes, agent: str | None, signature: bytes | None
) -> str:
    """``signed``, ``bad-signature``, ``unknown-agent`` or ``unsigned`` for a session-key
    snapshot (the signature check only; :func:`current_trust` applies the rest)."""
    if agent is None or signature is None:
        return UNSIGNED
    entry = agents_of(keyring).get(agent)
    public = entry.get("public") if isinstance(entry, dict) else None
    if not isinstance(public, bytes):
        return UNKNOWN_AGENT
    if not signature_valid(public, repo_id, body, signature):
        return BAD_SIGNATURE
    return SIGNED


def current_trust(
    keyring: Keyring,
    snapshot_id: str,
    host: str,
    agent: str | None,
    recorded: str | None,
) -> str:
    """Trust now of a snapshot whose signature check gave ``recorded`` (None: sealed
    with a keyring data key, so written by a full-key holder)."""
    if recorded is None:
        return FULL_KEY
    if recorded not in TRUST_VALUES:
        return UNSIGNED
    if recorded != SIGNED:
        return recorded
    entry = agents_of(keyring).get(agent) if agent is not None else None
    if not isinstance(entry, dict):
        return UNKNOWN_AGENT
    if entry.get("revoked") is not None and not any(
        hmac.compare_digest(snapshot_id.encode(), accepted.encode())
        for accepted in accepted_of(entry)
    ):
        return REVOKED_AGENT
    if host not in hosts_of(entry):
        return FOREIGN_HOST
    return SIGNED
