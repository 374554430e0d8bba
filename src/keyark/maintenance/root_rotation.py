"""Root-key rotation: ``keyark key rotate --root`` replaces the keyring key KR (design D5).

A new KR' is wrapped to the public key of every remaining slot (no passphrase, HSM
PIN or recovery share is needed: HSM and recovery slots keep working with the same
token and the same shares), a new data-key epoch and a new config signing key are
made, the config is re-signed and the keyring is saved under KR' with a higher
version. Afterwards a saved copy of a removed slot, with its old passphrase, yields
only its own private key, which unwraps only the old KR: it opens nothing.

Only slots whose sealed metadata authenticates under the current KR are re-wrapped,
so a slot planted in storage never receives KR'.

Crash safety. Each step is one atomic PUT or DELETE, in this order:

1. build K' (the keyring with a new epoch and config signing key, version + 1, and
   the re-wrapped bytes of every slot in ``extra["root_rotation"]``);
2. PUT ``keyring.pending``: K' sealed under KR', and KR' sealed under KR (a bridge);
3. PUT ``config.bak``, then ``config``, re-signed with K''s signing key; the PUT of
   ``config`` is **the commit point** (the primary wins while it verifies). Before it,
   the old keyring is live (the config verifies only with it) and every slot still
   wraps KR; from it on, K' is live: a slot not yet re-wrapped reaches it through
   the bridge, a re-wrapped one directly (:func:`keyark.repo.key_store.load_keyring`);
4. PUT every re-wrapped slot (each now opens K' directly);
5. PUT ``keyring.bak``, then ``keyring``: K' without the slot list, under KR',
   version + 1 (a crash between them: the copy with the higher version is live);
6. DELETE ``keyring.pending`` (the bridge goes with it).

A crash before 3 leaves the old state (the stale pending object is overwritten by
the next run); a crash after 3 leaves a committed rotation that any slot opens, and
running ``key rotate --root`` again finishes it with the same KR'. While a rotation
is unfinished other keyring changes are refused. Residual risk: until step 6 the
bridge lets the *old* KR reach KR', so finish an interrupted rotation at once.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from keyark.context import OperationContext
from keyark.crypto import slots
from keyark.crypto.envelope import SymmetricKey
from keyark.crypto.keyring import Keyring
from keyark.errors import Hint, IntegrityError, UsageError
from keyark.maintenance.rotate import MARKER
from keyark.repo import key_store
from keyark.repo.repository import Repository

ROTATION = "root_rotation"


@dataclass
class RootRotationSummary:
    """What ``key rotate --root`` did (ids only, never a secret)."""

    old_root: str = ""
    new_root: str = ""
    keyring_version: int = 0
    data_key: str = ""
    slots_rewrapped: list[str] = field(default_factory=list)
    #: Slots left as they were: malformed, or not authentic under the old KR (planted).
    slots_skipped: list[str] = field(default_factory=list)
    resumed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"message_type": "root_rotated", **asdict(self)}


def rotate_root(
    repo: Repository, *, ctx: OperationContext | None = None, reencrypt_next: bool = False
) -> RootRotationSummary:
    """Replace KR (resuming an interrupted rotation); see the module docstring.

    ``reencrypt_next`` records the new epoch as the target of a following
    :func:`keyark.maintenance.rotate.reencrypt`, so it rewrites everything under it.
    """
    if repo.keys.root_key is None:
        raise UsageError("rotating the root key needs a full key (passphrase, key file, HSM)")
    lock_wait = ctx.lock_wait if ctx is not None else 0.0
    with repo.lock("key rotate (root key)", exclusive=True, retry=lock_wait):
        loaded = repo.keys.load_keyring(repo.keys.config_bytes())
        if loaded is None:
            raise IntegrityError("the keyring no longer opens with this key; open again")
        keyring, root, pending = loaded
        summary = RootRotationSummary(resumed=pending)
        if pending:
            if not isinstance(keyring.extra.get(ROTATION), dict):
                raise IntegrityError("the pending root rotation holds no slot list (damaged)")
            new_root = root
        else:
            keyring, new_root = _start(repo, keyring, root, summary, reencrypt_next)
        _finish(repo, keyring, new_root, summary)
    return summary


def _start(
    repo: Repository,
    keyring: Keyring,
    root: SymmetricKey,
    summary: RootRotationSummary,
    reencrypt_next: bool,
) -> tuple[Keyring, SymmetricKey]:
    """Steps 1-3: build K', write the pending object, commit by re-signing the config."""
    new_root = SymmetricKey(os.urandom(8), os.urandom(32))
    found, malformed = repo.keys.scan_slots()
    summary.slots_skipped.extend(malformed)
    rewrapped: dict[str, bytes] = {}
    for slot in found:
        try:
            rewrapped[slot.slot_id] = slots.rewrap(slot, root, new_root).to_bytes()
        except IntegrityError:
            summary.slots_skipped.append(slot.slot_id)
    if not rewrapped:
        raise IntegrityError("no key slot is authentic under the keyring key; nothing was changed")
    fresh = Keyring.from_bytes(keyring.to_bytes())  # a deep copy
    epoch = fresh.rotate()
    fresh.config_signing_key = ed25519.Ed25519PrivateKey.generate().private_bytes_raw()
    fresh.version = keyring.version + 1
    fresh.mark_root_created()
    fresh.extra[ROTATION] = {
        "slots": rewrapped,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if reencrypt_next:
        fresh.extra[MARKER] = {"target": epoch.key_id.hex(), "started": epoch.created}
    repo.keys.put_pending(key_store.seal_pending(fresh, root, new_root))
    config = repo.config.to_bytes(fresh.id_key, fresh.config_signing_key)
    repo.keys.write_config(config)  # config.bak, then config: the commit point
    if not key_store.config_verifies(config, fresh):
        raise IntegrityError(
            "the re-signed config does not verify; run the rotation again", hint=Hint.ROTATE_ROOT
        )
    summary.old_root = root.key_id.hex()
    return fresh, new_root


def _finish(
    repo: Repository, keyring: Keyring, new_root: SymmetricKey, summary: RootRotationSummary
) -> None:
    """Steps 4-6: write the re-wrapped slots, the keyring under KR', drop the pending object."""
    plan = keyring.extra.get(ROTATION, {}).get("slots", {})
    if not isinstance(plan, dict):
        raise IntegrityError("the pending root rotation's slot list is damaged")
    for slot_id, data in sorted(plan.items()):
        if not isinstance(slot_id, str) or not isinstance(data, bytes):
            raise IntegrityError("the pending root rotation's slot list is damaged")
        slot = slots.KeySlot.from_bytes(slot_id, data)  # validated before it is written
        if not repo.keys.replace_slot(slot, data):
            continue  # removed meanwhile: do not bring it back
        summary.slots_rewrapped.append(slot_id)
    keyring.extra.pop(ROTATION, None)
    keyring.version += 1
    repo.keys.write_keyring(keyring.seal(new_root))  # keyring.bak, keyring
    repo.keys.delete_pending()
    repo.keys.adopt(keyring, new_root)  # remembered by the trust state too
    summary.new_root = new_root.key_id.hex()
    summary.keyring_version = keyring.version
    summary.data_key = keyring.current.key_id.hex()
