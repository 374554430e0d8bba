"""Key slots (format 2): each opens the keyring key (KR) through its own X25519 key pair.

A slot is a small JSON document in ``keys/<slot-id>`` (design D5)::

    kind, params        how the key-encryption key (KEK) is obtained: KDF and salt,
                        key-file salt, HSM labels and wrapped KEK, recovery split facts
    public              the slot's X25519 public key, in clear
    private             the X25519 private key sealed under the KEK
    wrapped             KR wrapped to ``public`` (:mod:`keyark.crypto.recipients`)
    info                created, host, user and label sealed under a subkey of KR;
                        it also authenticates the slot (its id, kind and public key)

Unlock: KEK -> private key -> KR. ``key rotate --root`` re-wraps a new KR to every
slot's public key without any passphrase, PIN or share, so a removed slot file keeps
only its own private key, which unwraps only the old KR. Every field is checked for
type and range when parsed; a malformed or planted slot is skipped (and named when
nothing opens), never stopping an unlock with a valid slot.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keyark.crypto import kdf, recipients
from keyark.crypto.envelope import KEY_ID_SIZE, OVERHEAD, ObjectKind, Sealer, SymmetricKey
from keyark.errors import FormatError, Hint, IntegrityError, WrongPasswordError

SLOT_FORMAT = 2
PASSPHRASE = "passphrase"  # noqa: S105 - a slot kind, not a secret
KEYFILE = "keyfile"
PKCS11 = "pkcs11"
RECOVERY = "recovery"
#: How messages name each slot kind's key material.
KIND_NAMES = {
    PASSPHRASE: "the passphrase",
    KEYFILE: "the key file",
    PKCS11: "the PKCS#11 key",
    RECOVERY: "the recovery shares",
}
MAX_SLOT_BYTES = 64 * 1024
MAX_INFO_TEXT = 256
_FIELDS = frozenset(("version", "kind", "params", "public", "private", "wrapped", "info"))
_INFO_KEY = b"keyark slot info v2"
_WRAP_CONTEXT = b"keyark slot v2 "


def parse_hex(value: object, what: str, *, length: int | None = None, max_len: int = 4096) -> bytes:
    """``value`` as bytes: a hex string of ``length`` (or at most ``max_len``) bytes, else a
    :class:`FormatError` naming ``what``."""
    if not isinstance(value, str) or len(value) > 2 * max_len:
        raise FormatError(f"{what} is not a hex string of at most {max_len} bytes")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise FormatError(f"{what} is not hex") from None
    if length is not None and len(raw) != length:
        raise FormatError(f"{what} must be {length} bytes")
    return raw


def _text(value: object, what: str, max_len: int = MAX_INFO_TEXT) -> str:
    if not isinstance(value, str) or len(value) > max_len or "\0" in value:
        raise FormatError(f"{what} is not a string of at most {max_len} characters")
    return value


def _int(value: object, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise FormatError(f"{what} is not an integer in {lo}..{hi}")
    return value


def _only(params: dict[str, Any], allowed: set[str], where: str) -> None:
    if set(params) - allowed:
        raise FormatError(f"{where} parameters hold unknown fields")


def check_params(kind: str, params: object, where: str) -> dict[str, Any]:
    """Validate a slot's kind-specific public parameters (types, ranges, KDF caps)."""
    if not isinstance(params, dict):
        raise FormatError(f"{where} parameters are not a map")
    if kind == PASSPHRASE:
        _only(params, {"kdf"}, where)
        kdf.KdfParams.from_dict(params.get("kdf"))
    elif kind == KEYFILE:
        _only(params, {"salt"}, where)
        parse_hex(params.get("salt"), f"{where} salt", max_len=64)
    elif kind == RECOVERY:
        _only(params, {"salt", "identifier", "threshold", "shares", "scheme"}, where)
        parse_hex(params.get("salt"), f"{where} salt", max_len=64)
        _int(params.get("identifier"), f"{where} identifier", 0, 2**15 - 1)
        count = _int(params.get("shares"), f"{where} share count", 1, 16)
        _int(params.get("threshold"), f"{where} threshold", 1, count)
        if params.get("scheme") != "slip39":
            raise FormatError(f"{where} uses an unknown sharing scheme")
    elif kind == PKCS11:
        _only(params, {"module", "token", "key", "mechanism", "wrapped_kek"}, where)
        _text(params.get("module"), f"{where} module", 4096)
        _text(params.get("token"), f"{where} token")
        _text(params.get("key"), f"{where} key label")
        _text(params.get("mechanism"), f"{where} mechanism", 32)
        parse_hex(params.get("wrapped_kek"), f"{where} wrapped key", max_len=2048)
    else:
        raise FormatError(f"{where} has an unknown kind")
    return params


def info_key(root: SymmetricKey) -> SymmetricKey:
    """The subkey of KR that seals (and authenticates) slot metadata."""
    secret = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO_KEY).derive(
        root.secret
    )
    return SymmetricKey(root.key_id, secret)


@dataclass
class KeySlot:
    """One way to unlock a repository; ``created``..``label`` are known once revealed."""

    slot_id: str
    kind: str
    params: dict[str, Any]
    public: bytes
    sealed_private: bytes = field(repr=False)
    wrapped: bytes = field(repr=False)
    sealed_info: bytes = field(repr=False)
    created: str = ""
    host: str = ""
    username: str = ""
    label: str = ""

    @property
    def name(self) -> str:
        """Object name in the backend."""
        return f"keys/{self.slot_id}"

    def _info_name(self) -> bytes:
        return f"info {self.slot_id} {self.kind} ".encode() + self.public

    def to_bytes(self) -> bytes:
        document = {
            "version": SLOT_FORMAT,
            "kind": self.kind,
            "params": self.params,
            "public": self.public.hex(),
            "private": self.sealed_private.hex(),
            "wrapped": self.wrapped.hex(),
            "info": self.sealed_info.hex(),
        }
        return json.dumps(document, indent=2, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, slot_id: str, data: bytes) -> KeySlot:
        """Parse and validate every field; :class:`FormatError` naming the slot if any is bad."""
        where = f"key slot {slot_id[:32]}"
        if len(slot_id) != 32 or not all(c in "0123456789abcdef" for c in slot_id):
            raise FormatError(f"{where}: the name is not 32 hex digits")
        if len(data) > MAX_SLOT_BYTES:
            raise FormatError(f"{where} is too large")
        try:
            document = json.loads(data)
        except (ValueError, RecursionError):
            raise FormatError(f"{where} is not valid JSON") from None
        if not isinstance(document, dict) or set(document) != _FIELDS:
            raise FormatError(f"{where} is malformed (missing or unknown fields)")
        if document["version"] != SLOT_FORMAT or isinstance(document["version"], bool):
            raise FormatError(f"{where} is not a format {SLOT_FORMAT} key slot")
        kind = document["kind"]
        if not isinstance(kind, str) or kind not in KIND_NAMES:
            raise FormatError(f"{where} has an unknown kind")
        return cls(
            slot_id=slot_id,
            kind=kind,
            params=check_params(kind, document["params"], where),
            public=parse_hex(document["public"], f"{where} public key", length=32),
            sealed_private=parse_hex(
                document["private"], f"{where} private key", length=OVERHEAD + 32
            ),
            wrapped=parse_hex(document["wrapped"], f"{where} wrapped key", max_len=1024),
            sealed_info=parse_hex(document["info"], f"{where} info", max_len=4096),
        )

    def reveal(self, root: SymmetricKey) -> bool:
        """Open the sealed metadata with KR; False if this slot is not authentic under it."""
        try:
            raw = Sealer(info_key(root)).open(ObjectKind.SLOT, self._info_name(), self.sealed_info)
            info = json.loads(raw)
            if not isinstance(info, dict):
                return False
            self.created = _text(info.get("created", ""), "created")
            self.host = _text(info.get("host", ""), "host")
            self.username = _text(info.get("username", ""), "username")
            self.label = _text(info.get("label", ""), "label")
        except (IntegrityError, ValueError):
            return False
        return True

    def _seal_info(self, root: SymmetricKey) -> bytes:
        info = {
            "created": self.created,
            "host": self.host,
            "username": self.username,
            "label": self.label,
        }
        return Sealer(info_key(root)).seal(
            ObjectKind.SLOT, self._info_name(), json.dumps(info).encode()
        )


@dataclass(frozen=True)
class Credentials:
    """Key material the user supplied. Secrets are never printed."""

    passphrase: bytes | None = field(default=None, repr=False)
    #: Extra unlockers by slot kind (key file, PKCS#11, ...), each returning a KEK or None.
    unlockers: dict[str, Callable[[KeySlot], bytes | None]] = field(
        default_factory=dict, repr=False
    )

    def describe(self) -> str:
        kinds = ([PASSPHRASE] if self.passphrase is not None else []) + sorted(self.unlockers)
        return " or ".join(KIND_NAMES.get(kind, kind) for kind in kinds) or "no key material"


def _kek_sealer(slot_id: str, kek: bytes) -> Sealer:
    return Sealer(SymmetricKey(bytes.fromhex(slot_id)[:KEY_ID_SIZE], kek))


def _recipient(slot: KeySlot, private: bytes | None = None) -> recipients.Recipient:
    return recipients.Recipient(recipients.X25519, slot.public, private)


def _wrap(slot: KeySlot, root: SymmetricKey) -> bytes:
    context = _WRAP_CONTEXT + slot.slot_id.encode()
    return recipients.wrap(_recipient(slot), context, root.key_id + root.secret)


def wrap_root_key(
    root: SymmetricKey, kind: str, params: dict[str, Any], kek: bytes, label: str = ""
) -> KeySlot:
    """Create a new slot of ``kind`` whose ``kek`` opens ``root`` (a fresh X25519 pair)."""
    pair = recipients.generate(recipients.X25519)
    assert pair.private is not None
    slot_id = os.urandom(16).hex()
    slot = KeySlot(
        slot_id=slot_id,
        kind=kind,
        params=params,
        public=pair.public,
        sealed_private=_kek_sealer(slot_id, kek).seal(
            ObjectKind.SLOT, slot_id.encode(), pair.private
        ),
        wrapped=b"",
        sealed_info=b"",
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        host=_limit(socket.gethostname()),
        username=_limit(_username()),
        label=_limit(label),
    )
    check_params(kind, params, f"new {kind} key slot")
    slot.wrapped = _wrap(slot, root)
    slot.sealed_info = slot._seal_info(root)
    return slot


def rewrap(slot: KeySlot, old_root: SymmetricKey, new_root: SymmetricKey) -> KeySlot:
    """The slot re-wrapped to ``new_root`` (no secret of the slot needed).

    Only a slot authentic under ``old_root`` is re-wrapped (:class:`IntegrityError`
    otherwise), so a slot planted in storage never receives the new KR.
    """
    if not slot.reveal(old_root):
        raise IntegrityError(f"key slot {slot.slot_id[:8]} is not authentic under the keyring key")
    fresh = replace(slot)
    fresh.wrapped = _wrap(fresh, new_root)
    fresh.sealed_info = fresh._seal_info(new_root)
    return fresh


def relabel(slot: KeySlot, root: SymmetricKey, label: str) -> None:
    """Set the slot's label (sealed under ``root``)."""
    slot.label = _limit(label)
    slot.sealed_info = slot._seal_info(root)


def unwrap_root_key(slot: KeySlot, kek: bytes) -> SymmetricKey:
    """Open ``slot`` with ``kek``.

    :class:`IntegrityError` if ``kek`` is the wrong key; :class:`FormatError` if it is
    right but the slot's wrapped KR does not open (a damaged or tampered slot).
    """
    private = _kek_sealer(slot.slot_id, kek).open(
        ObjectKind.SLOT, slot.slot_id.encode(), slot.sealed_private
    )
    if len(private) != 32:
        raise FormatError(f"key slot {slot.slot_id[:8]} holds a malformed private key")
    try:
        raw = recipients.unwrap(
            _recipient(slot, private), _WRAP_CONTEXT + slot.slot_id.encode(), slot.wrapped
        )
    except IntegrityError:
        raise FormatError(
            f"key slot {slot.slot_id[:8]}: the key opens it but its wrapped keyring key is damaged"
        ) from None
    if len(raw) != KEY_ID_SIZE + 32:
        raise FormatError(f"key slot {slot.slot_id[:8]} holds a malformed key")
    return SymmetricKey(raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:])


def passphrase_slot(
    root: SymmetricKey, passphrase: bytes, kdf_name: str = kdf.ARGON2ID, label: str = ""
) -> KeySlot:
    """A new passphrase slot for ``root`` (today's default KDF parameters)."""
    params = kdf.default_params(kdf_name)
    kek = kdf.derive(passphrase, params)
    return wrap_root_key(root, PASSPHRASE, {"kdf": params.to_dict()}, kek, label)


def passphrase_params(slot: KeySlot) -> kdf.KdfParams:
    """The KDF parameters of a passphrase slot (validated)."""
    return kdf.KdfParams.from_dict(slot.params.get("kdf"))


def unlock(
    slots: Iterable[KeySlot],
    credentials: Credentials,
    malformed: Sequence[str] = (),
    *,
    accept: Callable[[SymmetricKey, KeySlot], bool] | None = None,
) -> tuple[SymmetricKey, KeySlot]:
    """Return KR and the slot that opened it, trying every slot the credentials fit.

    ``malformed`` names slots already skipped while parsing; a slot found malformed
    here (bad parameters, damaged wrapping) is skipped too, and the error raised when
    nothing opens says how many were skipped and which. ``accept`` (if given) must
    approve the KR a slot yields (it opens the live keyring); a slot it refuses is
    stale (removed, or from before ``key rotate --root``) and the search goes on.
    """
    tried = 0
    stale = 0
    skipped = list(malformed)
    for slot in slots:
        kek: bytes | None = None
        try:
            if slot.kind == PASSPHRASE and credentials.passphrase is not None:
                kek = kdf.derive(credentials.passphrase, passphrase_params(slot))
            elif slot.kind in credentials.unlockers:
                # An unlocker returns None for a slot it does not fit, raises
                # IntegrityError for one it fits but cannot open (wrong key).
                kek = credentials.unlockers[slot.kind](slot)
        except FormatError:
            skipped.append(slot.slot_id)
            continue
        except IntegrityError:
            tried += 1
            continue
        if kek is None:
            continue
        tried += 1
        try:
            root = unwrap_root_key(slot, kek)
        except FormatError:
            skipped.append(slot.slot_id)
            continue
        except IntegrityError:
            continue
        if accept is None or accept(root, slot):
            return root, slot
        stale += 1
    note = ""
    if stale:
        note += (
            f" ({stale} key slot(s) opened but hold an outdated keyring key: removed, or "
            "from before a root-key rotation)"
        )
    if skipped:
        names = ", ".join(s[:8] for s in skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        note += f" ({len(skipped)} key slot(s) skipped as malformed: {names})"
    if tried == 0:
        raise WrongPasswordError(
            f"no key slot of this repository accepts {credentials.describe()}{note}"
        )
    if credentials.passphrase is not None and not credentials.unlockers:
        raise WrongPasswordError(
            "wrong passphrase or key: no key slot opened" + note, hint=Hint.PASSPHRASE
        )
    raise WrongPasswordError(f"wrong key: {credentials.describe()} opens no key slot{note}")


def _limit(text: str) -> str:
    return text.replace("\0", "")[:MAX_INFO_TEXT]


def _username() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
