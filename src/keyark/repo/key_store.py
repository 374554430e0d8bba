"""The key store: key slots, the keyring object and an interrupted root-key rotation.

Unlocking (design D5): every slot under ``keys/`` is parsed and validated; a
malformed or planted one is skipped (and named if nothing opens). A slot's KR
counts only if it opens the live keyring, so a stale slot (a saved copy of a
removed slot, after ``key rotate --root``) opens nothing.

Which keyring is live: ``keyring`` sealed under KR, or, while a root rotation
is in flight, ``keyring.pending`` (see :mod:`keyark.maintenance.root_rotation`),
which holds the new keyring under KR' and a *bridge* (KR' sealed under KR) for
slots not yet re-wrapped. The config is the commit point: the keyring whose
config signing key verifies the config is the live one.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack

from keyark.backends.base import Backend, object_exists
from keyark.crypto import slots
from keyark.crypto.envelope import (
    KEY_ID_SIZE,
    ObjectKind,
    Sealer,
    SymmetricKey,
    envelope_key_id,
)
from keyark.crypto.keyring import KEYRING_NAME, Keyring
from keyark.errors import FormatError, Hint, IntegrityError, NotFoundError, UsageError
from keyark.repo import state_copies
from keyark.repo.config import RepoConfig

SLOT_PREFIX = "keys/"
PENDING_NAME = "keyring.pending"
_BRIDGE_NAME = b"keyring.pending bridge"
_PENDING_KEYRING = b"keyring.pending"
MAX_PENDING_BYTES = 16 * 1024 * 1024


def scan_slots(backend: Backend) -> tuple[list[slots.KeySlot], list[str]]:
    """(valid slots, ids of malformed ones); a bad slot never stops the scan."""
    found: list[slots.KeySlot] = []
    malformed: list[str] = []
    for info in backend.list(SLOT_PREFIX):
        slot_id = info.name[len(SLOT_PREFIX) :]
        if "/" in slot_id:
            continue  # keys/sessions/: agents' session keys
        try:
            if info.size > slots.MAX_SLOT_BYTES:
                raise FormatError(f"key slot {slot_id[:32]} is too large")
            found.append(slots.KeySlot.from_bytes(slot_id, backend.get(info.name)))
        except (FormatError, NotFoundError):
            malformed.append(slot_id[:32])
    return found, malformed


@dataclass
class Unlocked:
    """What an unlock produced: the live keyring, the key that seals it, the slot used."""

    keyring: Keyring
    root: SymmetricKey
    slot: slots.KeySlot
    #: A root rotation is committed but not finished (``key rotate --root`` finishes it).
    pending: bool = False
    #: The config bytes the keyring verified (``config``, or ``config.bak`` if damaged).
    config_bytes: bytes = b""


@dataclass
class LiveState:
    """The live keyring as one KR reaches it, and the objects it was read from."""

    keyring: Keyring
    root: SymmetricKey
    pending: bool
    #: The config bytes this keyring verifies (the primary's, or the copy's).
    config_bytes: bytes
    #: The sealed keyring object chosen (None while a root rotation is pending).
    envelope: bytes | None


def config_verifies(config_bytes: bytes, keyring: Keyring) -> bool:
    """Whether ``keyring``'s config signing key verifies (and so fits) the config."""
    try:
        RepoConfig.from_bytes(config_bytes, keyring.id_key, keyring.config_public_key)
    except (FormatError, ValueError):
        return False
    return True


def unlock(backend: Backend, credentials: slots.Credentials, config_bytes: bytes) -> Unlocked:
    """Find a slot the credentials open whose KR opens the live keyring."""
    found, malformed = scan_slots(backend)
    result: list[Unlocked] = []

    def accept(root: SymmetricKey, slot: slots.KeySlot) -> bool:
        live = load_live(backend, root, config_bytes)
        if live is None:
            return False
        result.append(Unlocked(live.keyring, live.root, slot, live.pending, live.config_bytes))
        return True

    slots.unlock(found, credentials, malformed, accept=accept)
    return result[-1]


def load_keyring(
    backend: Backend, root: SymmetricKey, config_bytes: bytes
) -> tuple[Keyring, SymmetricKey, bool] | None:
    """(live keyring, its KR, rotation pending) as ``root`` reaches it; None if it cannot."""
    live = load_live(backend, root, config_bytes)
    return None if live is None else (live.keyring, live.root, live.pending)


def load_live(backend: Backend, root: SymmetricKey, config_bytes: bytes) -> LiveState | None:
    """The live keyring as ``root`` reaches it, from ``keyring`` or ``keyring.bak``.

    Every keyring copy that opens under ``root`` is a candidate; the config is
    ``config_bytes``, then ``config.bak`` (:mod:`keyark.repo.state_copies`). The
    first config that a candidate verifies wins, with the candidate of the highest
    version (a rotation in flight: ``keyring.pending``). A damaged copy is skipped
    with one warning naming it. None if ``root`` reaches no keyring (a stale slot);
    an :class:`IntegrityError` naming the objects if every copy sealed under
    ``root`` is damaged.
    """
    opened: list[tuple[str, bytes, Keyring]] = []
    present: dict[str, bytes] = {}
    malformed: set[str] = set()
    for name in (KEYRING_NAME, state_copies.KEYRING_COPY_NAME):
        envelope = state_copies.read_optional(backend, name)
        if envelope is None:
            continue
        present[name] = envelope
        try:
            opened.append((name, envelope, Keyring.open(root, envelope)))
        except FormatError:
            malformed.add(name)  # not an envelope, or an authentic but malformed keyring
        except IntegrityError:
            pass  # damaged, or sealed under another KR (a stale slot)
    configs = state_copies.config_candidates(backend, config_bytes)
    pending: tuple[Keyring, SymmetricKey] | None = None
    for config_name, config in configs:
        fitting = [entry for entry in opened if config_verifies(config, entry[2])]
        if fitting:
            name, envelope, keyring = max(fitting, key=lambda entry: entry[2].version)
            _warn_outdated(backend, present, opened, name, keyring.version)
            if config_name != configs[0][0]:
                state_copies.warn_damaged(backend, configs[0][0], config_name)
            return LiveState(keyring, root, False, config, envelope)
        pending = pending or open_pending(backend, root)
        if pending is not None and config_verifies(config, pending[0]):
            if config_name != configs[0][0]:
                state_copies.warn_damaged(backend, configs[0][0], config_name)
            return LiveState(pending[0], pending[1], True, config, None)
    if opened:  # the config check that follows names the problem
        name, envelope, keyring = max(opened, key=lambda entry: entry[2].version)
        return LiveState(keyring, root, False, config_bytes, envelope)
    if pending is not None:
        return None
    if not present:
        raise FormatError("repository has no keyring object; it is damaged")
    damaged = [n for n in present if n in malformed or _sealed_with(present[n], root)]
    if damaged:
        raise FormatError(
            f"the repository keyring is damaged: {' and '.join(repr(n) for n in damaged)} "
            "failed verification and no intact copy is left; restore one from a copy of "
            "the repository storage"
        )
    return None


def _sealed_with(envelope: bytes, root: SymmetricKey) -> bool:
    """Whether ``envelope`` names ``root``'s key id (so it failed authentication: damaged)."""
    try:
        return envelope_key_id(envelope) == root.key_id
    except (FormatError, ValueError, IndexError):
        return False


def _warn_outdated(
    backend: Backend,
    present: dict[str, bytes],
    opened: list[tuple[str, bytes, Keyring]],
    chosen: str,
    version: int,
) -> None:
    """Warn about a keyring object that did not open, or opened with an older version."""
    versions = {name: keyring.version for name, _, keyring in opened}
    for name in present:
        if name != chosen and versions.get(name, -1) < version:
            state_copies.warn_damaged(backend, name, chosen)


def seal_pending(keyring: Keyring, old_root: SymmetricKey, new_root: SymmetricKey) -> bytes:
    """The ``keyring.pending`` object: the new keyring under KR' and KR' under KR."""
    bridge = Sealer(old_root).seal(
        ObjectKind.KEYRING, _BRIDGE_NAME, new_root.key_id + new_root.secret
    )
    sealed = Sealer(new_root).seal(ObjectKind.KEYRING, _PENDING_KEYRING, keyring.to_bytes())
    return bytes(msgpack.packb({"v": 1, "bridge": bridge, "keyring": sealed}, use_bin_type=True))


def open_pending(backend: Backend, root: SymmetricKey) -> tuple[Keyring, SymmetricKey] | None:
    """(pending keyring, KR') if a pending rotation exists that ``root`` reaches; else None."""
    try:
        data = backend.get(PENDING_NAME)
    except NotFoundError:
        return None
    try:
        if len(data) > MAX_PENDING_BYTES:
            return None
        document = msgpack.unpackb(data, raw=False)
        if not isinstance(document, dict) or document.get("v") != 1:
            return None
        bridge, sealed = document.get("bridge"), document.get("keyring")
        if not isinstance(bridge, bytes) or not isinstance(sealed, bytes):
            return None
        new_root = root
        try:
            plain = Sealer(root).open(ObjectKind.KEYRING, _PENDING_KEYRING, sealed)
        except IntegrityError:
            raw = Sealer(root).open(ObjectKind.KEYRING, _BRIDGE_NAME, bridge)
            if len(raw) != KEY_ID_SIZE + 32:
                return None
            new_root = SymmetricKey(raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:])
            plain = Sealer(new_root).open(ObjectKind.KEYRING, _PENDING_KEYRING, sealed)
        return Keyring.from_bytes(plain), new_root
    except (IntegrityError, ValueError, TypeError, msgpack.UnpackException):
        return None


def pending_exists(backend: Backend) -> bool:
    """Whether a ``keyring.pending`` object is present (a root rotation was interrupted)."""
    return object_exists(backend, PENDING_NAME)


def save_keyring(backend: Backend, keyring: Keyring, root: SymmetricKey) -> None:
    """Replace ``keyring`` with the next version (monotonic: clients refuse older ones)."""
    if pending_exists(backend):
        raise UsageError(
            "an interrupted root key rotation is pending; finish it before changing keys",
            hint=Hint.ROTATE_ROOT,
        )
    keyring.version += 1
    state_copies.write_keyring(backend, keyring.seal(root))  # keyring.bak, then keyring
