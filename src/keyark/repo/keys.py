"""The key store of a full-key session: keyring, root key, key slots and sealers.

It holds what an unlock produced (:func:`keyark.repo.key_store.unlock`): the live
keyring, the keyring key KR (``root_key``) and the slot that opened it, plus what
this client remembers (:class:`~keyark.repo.trust_state.TrustState`). Everything
that reads or writes the keyring, the config, their copies
(:mod:`keyark.repo.state_copies`), key slots or agents' session keys goes through
it, so no caller touches storage for them.

Sealers: data keys seal and open objects; an object sealed with a write-only
agent's session key is opened by unwrapping ``keys/sessions/<key id>`` with the
keyring's recipient private key.
"""

from __future__ import annotations

import threading

from keyark.backends.base import Backend
from keyark.crypto.agent_registry import recipient_of
from keyark.crypto.envelope import ObjectKind, Sealer, SymmetricKey, envelope_key_id
from keyark.crypto.keyring import KEYRING_NAME, Keyring
from keyark.crypto.recipients import unwrap
from keyark.crypto.slots import KeySlot
from keyark.errors import IntegrityError, NotFoundError, UsageError
from keyark.repo import key_store, state_copies
from keyark.repo.config import CONFIG_NAME
from keyark.repo.key_store import PENDING_NAME, LiveState
from keyark.repo.trust_state import TrustState

SESSION_PREFIX = "keys/sessions/"
#: The objects :meth:`KeyStore.read_state` and :meth:`KeyStore.put_state` may name.
STATE_OBJECTS = frozenset(state_copies.COPY_OF) | frozenset(state_copies.COPY_OF.values())


def session_object_name(key_id: bytes) -> str:
    """Where a write-only agent stores its wrapped session key."""
    return f"{SESSION_PREFIX}{key_id.hex()}"


class KeyStore:
    """Keyring, root key, slots and sealers of one session (thread-safe sealer cache)."""

    def __init__(
        self,
        backend: Backend,
        keyring: Keyring,
        root_key: SymmetricKey | None = None,
        slot: KeySlot | None = None,
    ) -> None:
        self._backend = backend
        self.keyring = keyring
        #: KR: None for a session that cannot change keys (it still reads).
        self.root_key = root_key
        #: The slot that opened the repository (None if none did).
        self.slot = slot
        #: What this client remembers about the repository (None: nothing remembered).
        self.trust: TrustState | None = None
        self._sealers: dict[bytes, Sealer] = {}
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- sealers
    def sealer_for(self, key_id: bytes) -> Sealer:
        """The sealer of data key (or agent session key) ``key_id``."""
        sealer = self._sealers.get(key_id)
        if sealer is not None:
            return sealer
        data_key = self.keyring.data_keys.get(key_id)
        if data_key is not None:
            sealer = Sealer(data_key.key)
        else:
            with self._lock:
                sealer = self._sealers.get(key_id) or self._session_sealer(key_id)
        self._sealers[key_id] = sealer
        return sealer

    def _session_sealer(self, key_id: bytes) -> Sealer:
        """A write-only agent's session key, unwrapped with the recipient private key."""
        recipient = recipient_of(self.keyring)
        if recipient is None or recipient.private is None:
            raise IntegrityError(
                f"object is encrypted with key {key_id.hex()}, which this keyring lacks"
            )
        try:
            wrapped = self._backend.get(session_object_name(key_id))
        except NotFoundError:
            raise IntegrityError(
                f"object is encrypted with key {key_id.hex()}, which this keyring lacks "
                "and no session key object provides"
            ) from None
        return Sealer(SymmetricKey(key_id, unwrap(recipient, key_id, wrapped)))

    def current_sealer(self) -> Sealer:
        """The sealer of the current data key."""
        return self.sealer_for(self.keyring.current.key_id)

    def forget_sealers(self) -> None:
        """Drop cached sealers (after the keyring changed)."""
        with self._lock:
            self._sealers = {}

    def open_object(self, kind: ObjectKind, name: bytes, envelope: bytes | memoryview) -> bytes:
        """Decrypt any sealed object with the key its envelope names."""
        return self.sealer_for(envelope_key_id(envelope)).open(kind, name, envelope)

    # ----------------------------------------------------------------- keyring
    def require_root(self, what: str = "change the keyring") -> SymmetricKey:
        """KR, or a :class:`UsageError` saying this key cannot ``what``."""
        if self.root_key is None:
            raise UsageError(f"this key cannot {what}")
        return self.root_key

    def save_keyring(self) -> None:
        """Replace the keyring object (version + 1, copy first) and remember the version."""
        root = self.require_root()
        key_store.save_keyring(self._backend, self.keyring, root)
        self.remember_version(self.keyring.version)

    def remember_version(self, version: int) -> None:
        """Refuse a keyring older than one seen (:class:`TrustError`); remember a newer one."""
        if self.trust is not None:
            self.trust.check_keyring(version)
            self.trust.save()  # a full cache disk is warned about, never fatal

    def adopt(self, keyring: Keyring, root: SymmetricKey) -> None:
        """Use ``keyring`` under KR ``root`` from now on (checked against the trust state)."""
        self.remember_version(keyring.version)
        self.keyring, self.root_key = keyring, root
        self.forget_sealers()

    def refresh(self) -> bool:
        """Re-read the live keyring (a writer calls this under its lock); False without KR.

        A writer reads the keyring when it opens the repository, before it takes its
        lock; a ``key rotate --reencrypt`` that completes in between deletes the data
        key it read. Re-reading under the lock (rotation holds an exclusive one) makes
        the writer seal with the key that is current now. Raises
        :class:`IntegrityError` if the keyring no longer opens with this key.
        """
        if self.root_key is None:
            return False
        loaded = self.load_keyring()
        if loaded is None:
            raise IntegrityError(
                "the repository keyring no longer opens with this key (changed by another "
                "client); run the command again"
            )
        keyring, root, _pending = loaded
        self.adopt(keyring, root)
        return True

    def require_current(self, key_id: bytes) -> None:
        """Refuse to commit objects sealed with ``key_id`` unless it is still the current key.

        Called by a writer right before it writes the index and snapshot that make its
        packs reachable: if a rotation replaced (or a re-encryption deleted) the key
        since the writer's lock was taken, what it sealed may be unreadable, so it
        stops with an :class:`IntegrityError` instead of saving a snapshot nobody can
        restore. Not checked without KR (a write-only agent seals with its own key).
        """
        if self.root_key is None:
            return
        loaded = self.load_keyring()
        current = loaded[0].current.key_id if loaded is not None else None
        if current != key_id:
            raise IntegrityError(
                "the data key this backup sealed with is no longer current (a concurrent "
                "key rotation replaced it); nothing was saved, run the backup again"
            )

    def load_live(self, config_bytes: bytes | None = None) -> LiveState | None:
        """The live keyring as KR reaches it (see :func:`key_store.load_live`)."""
        root = self.require_root("read the keyring")
        config = self.config_bytes() if config_bytes is None else config_bytes
        return key_store.load_live(self._backend, root, config)

    def load_keyring(
        self, config_bytes: bytes | None = None
    ) -> tuple[Keyring, SymmetricKey, bool] | None:
        """(live keyring, its KR, rotation pending) as KR reaches it; None if it cannot."""
        live = self.load_live(config_bytes)
        return None if live is None else (live.keyring, live.root, live.pending)

    # ----------------------------------------------------------------- config, state copies
    def config_bytes(self) -> bytes:
        """The config bytes to open with: ``config``, or ``config.bak`` if unreadable."""
        return state_copies.read_config_bytes(self._backend)

    def write_config(self, data: bytes) -> None:
        """Store signed config bytes: ``config.bak``, then ``config`` (the commit point)."""
        state_copies.write_config(self._backend, data)

    def write_keyring(self, envelope: bytes) -> None:
        """Store a sealed keyring as it is: ``keyring.bak``, then ``keyring``."""
        state_copies.write_keyring(self._backend, envelope)

    def read_state(self, name: str) -> bytes | None:
        """The bytes of ``config``, ``keyring`` or a copy of either (None if missing)."""
        return state_copies.read_optional(self._backend, _state_name(name))

    def put_state(self, name: str, data: bytes) -> None:
        """Replace one of ``config``, ``keyring`` and their copies with verified bytes."""
        self._backend.put(_state_name(name), data, overwrite=True)

    def put_pending(self, data: bytes) -> None:
        """Store ``keyring.pending`` (an interrupted root rotation's bridge)."""
        self._backend.put(PENDING_NAME, data, overwrite=True)

    def delete_pending(self) -> None:
        """Remove ``keyring.pending`` (gone already is fine)."""
        try:
            self._backend.delete(PENDING_NAME)
        except NotFoundError:
            pass

    # ----------------------------------------------------------------- slots
    def scan_slots(self) -> tuple[list[KeySlot], list[str]]:
        """(valid slots, ids of malformed ones)."""
        return key_store.scan_slots(self._backend)

    def slots(self) -> list[KeySlot]:
        """Every well-formed key slot (malformed ones skipped)."""
        return self.scan_slots()[0]

    def add_slot(self, slot: KeySlot) -> None:
        """Store a new key slot."""
        self._backend.put(slot.name, slot.to_bytes())

    def replace_slot(self, slot: KeySlot, data: bytes) -> bool:
        """Overwrite a stored slot with ``data`` (its re-wrapped bytes); False if it is gone."""
        try:
            self._backend.stat(slot.name)
        except NotFoundError:
            return False  # removed meanwhile: do not bring it back
        self._backend.put(slot.name, data, overwrite=True)
        if self.slot is not None and self.slot.slot_id == slot.slot_id:
            self.slot = slot
        return True

    def delete_slot(self, slot: KeySlot) -> None:
        """Delete one key slot."""
        self._backend.delete(slot.name)

    def use_slot(self, slot: KeySlot) -> None:
        """Record ``slot`` as the one this session's key is held by (after a change)."""
        self.slot = slot

    # ----------------------------------------------------------------- agents' session keys
    def session_key_names(self) -> list[str]:
        """The object names of every stored agent session key."""
        return [info.name for info in self._backend.list(SESSION_PREFIX)]

    def delete_session_key(self, name: str) -> None:
        """Delete one agent session key object (errors raised)."""
        if not name.startswith(SESSION_PREFIX):
            raise ValueError(f"{name!r} is not a session key object")
        self._backend.delete(name)


def _state_name(name: str) -> str:
    if name not in STATE_OBJECTS:
        raise ValueError(f"{name!r} is not {CONFIG_NAME!r}, {KEYRING_NAME!r} or a copy")
    return name


__all__ = ["SESSION_PREFIX", "STATE_OBJECTS", "KeyStore", "session_object_name"]
