"""``repair config`` / ``repair keyring``: rewrite a damaged ``config`` or ``keyring``.

Each is stored twice (:mod:`keyark.repo.state_copies`). Under an exclusive lock
the live state is read again and verified (the keyring under KR, the config by
its signature); every one of the four objects whose bytes differ from the
verified ones is rewritten with them, copy first, then primary. The verified
bytes are written as they are: the keyring keeps its version (no rollback: the
chosen keyring is the copy with the highest version, and the client's
remembered version is checked), the config keeps its signature. A crash at any
point leaves at least one verified copy of each.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from keyark.context import OperationContext
from keyark.crypto.keyring import KEYRING_NAME
from keyark.errors import Hint, IntegrityError, UsageError
from keyark.repo import key_store, state_copies
from keyark.repo.config import CONFIG_NAME
from keyark.repo.repository import Repository
from keyark.results import Summary


@dataclass
class RepairStateSummary(Summary):
    """What the repair rewrote (object names only)."""

    message_type = "repair_state"

    rewritten: list[str] = field(default_factory=list)
    #: Objects that were already intact.
    intact: list[str] = field(default_factory=list)
    keyring_version: int = 0


def repair_state(repo: Repository, ctx: OperationContext | None = None) -> RepairStateSummary:
    """Rewrite ``config``, ``config.bak``, ``keyring`` and ``keyring.bak`` from the verified state.

    Needs a full key. Refuses (:class:`UsageError`) while a root-key rotation is
    pending (running the rotation again finishes it and rewrites both keyring objects);
    raises :class:`IntegrityError` if the keyring no longer opens with this key and
    :class:`keyark.errors.TrustError` if it is older than one this client has seen.
    """
    if repo.keys.root_key is None:
        raise UsageError("repairing the config or keyring needs a full key (passphrase, key file)")
    lock_wait = ctx.lock_wait if ctx is not None else 0.0
    summary = RepairStateSummary()
    with repo.lock("repair state", exclusive=True, retry=lock_wait):
        live = repo.keys.load_live()
        if live is None:
            raise IntegrityError(
                "the repository keyring no longer opens with this key (changed by another "
                "client); try again"
            )
        if live.pending or live.envelope is None:
            raise UsageError(
                "an interrupted root-key rotation is pending; finishing it rewrites the keyring",
                hint=Hint.ROTATE_ROOT,
            )
        if not key_store.config_verifies(live.config_bytes, live.keyring):
            raise IntegrityError(
                "neither 'config' nor 'config.bak' verifies with the keyring; restore one "
                "from a copy of the repository storage"
            )
        repo.keys.remember_version(live.keyring.version)
        summary.keyring_version = live.keyring.version
        _rewrite(repo, CONFIG_NAME, live.config_bytes, summary)
        _rewrite(repo, KEYRING_NAME, live.envelope, summary)
    return summary


def _rewrite(repo: Repository, primary: str, verified: bytes, summary: RepairStateSummary) -> None:
    """Put ``verified`` wherever the copy or the primary differs from it (copy first)."""
    for name in (state_copies.COPY_OF[primary], primary):
        if repo.keys.read_state(name) == verified:
            summary.intact.append(name)
            continue
        repo.keys.put_state(name, verified)
        summary.rewritten.append(name)


__all__ = ["RepairStateSummary", "repair_state"]
