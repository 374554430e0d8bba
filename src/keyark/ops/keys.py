"""Key-slot operations: list, add, remove, change the passphrase, split into shares, recover.

Secrets (a new passphrase, a PKCS#11 PIN, recovery shares) are options marked
secret: the face resolves them (:mod:`keyark.config`) and passes them in; they are
never shown by ``repr()``, the catalogue or an event. The pipelines live in
:mod:`keyark.keys`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keyark import keys
from keyark.context import OperationContext
from keyark.crypto import hsm, shares
from keyark.crypto.shares import RecoveryShareError as RecoveryShareError
from keyark.errors import UsageError
from keyark.keys import KeyInfo as KeyInfo
from keyark.keys import SplitResult as SplitResult
from keyark.keys import read_share_file as read_share_file
from keyark.ops.catalogue import operation
from keyark.ops.repository import secret_option
from keyark.ops.session import opened

#: The PKCS#11 wrapping mechanisms a key slot can use.
PKCS11_MECHANISMS = hsm.MECHANISMS


@dataclass(frozen=True)
class KeyList:
    """Every key slot, oldest first (never a secret)."""

    keys: list[KeyInfo] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"keys": [info.to_dict() for info in self.keys]}


@dataclass(frozen=True)
class KeyChange:
    """The slot a key operation added or removed; ``message_type`` says which."""

    message_type: str
    key: KeyInfo

    def to_dict(self) -> dict[str, Any]:
        return {"message_type": self.message_type, "slot": self.key.slot_id, **self.key.to_dict()}


@dataclass(frozen=True)
class KeyListOptions:
    """``key list`` takes no options."""


@operation("key list", options=KeyListOptions, result=KeyList, mutates=False)
def key_list(ctx: OperationContext, options: KeyListOptions) -> KeyList:
    """List the key slots (never secrets)."""
    with opened(ctx) as repo:
        return KeyList(keys.list_keys(repo))


@dataclass(frozen=True)
class KeyAddOptions:
    """A passphrase slot (default), a new key file, or a PKCS#11 (HSM) key slot."""

    passphrase: bytes | None = secret_option(None)
    #: Passphrase slots only: ``argon2id`` (default) or ``pbkdf2``.
    kdf: str | None = None
    #: Create a new key file at this path (0600, never overwriting) and a slot it opens.
    key_file: str | None = None
    pkcs11_module: str | None = None
    pkcs11_token: str | None = None
    pkcs11_key: str | None = None
    pkcs11_mechanism: str | None = None
    pkcs11_pin: str = secret_option("")
    #: A note ``key list`` shows.
    label: str = ""


@operation("key add", options=KeyAddOptions, result=KeyChange, mutates=True, reads_secrets=True)
def key_add(ctx: OperationContext, options: KeyAddOptions) -> KeyChange:
    """Add a key slot: a passphrase, a new key file, or an HSM key."""
    if options.key_file and options.pkcs11_module:
        raise UsageError("give either a key file or a PKCS#11 module, not both")
    if options.kdf and (options.key_file or options.pkcs11_module):
        raise UsageError("the KDF applies to passphrase slots only")
    with opened(ctx) as repo:
        if options.pkcs11_module:
            config = hsm.Pkcs11Config(
                options.pkcs11_module,
                options.pkcs11_token,
                options.pkcs11_key,
                options.pkcs11_pin,
                options.pkcs11_mechanism,
            )
            info = keys.add_pkcs11(repo, config, options.label)
        elif options.key_file:
            info = keys.add_key_file(repo, options.key_file, options.label)
        else:
            if options.passphrase is None:
                raise UsageError("no new passphrase given")
            info = keys.add_passphrase(
                repo, options.passphrase, options.kdf or "argon2id", options.label
            )
    return KeyChange("key_added", info)


@dataclass(frozen=True)
class KeyRemoveOptions:
    """The slot to remove (a unique id prefix of at least 4 characters)."""

    slot: str
    #: Also remove the slot that opened the repository.
    force: bool = False


@operation("key remove", options=KeyRemoveOptions, result=KeyChange, mutates=True)
def key_remove(ctx: OperationContext, options: KeyRemoveOptions) -> KeyChange:
    """Remove a key slot; never the last one."""
    with opened(ctx) as repo:
        return KeyChange("key_removed", keys.remove_key(repo, options.slot, force=options.force))


@dataclass(frozen=True)
class KeyPasswdOptions:
    """The new passphrase; its KDF and label default to the replaced slot's."""

    new_passphrase: bytes = secret_option()
    #: ``argon2id`` or ``pbkdf2``; None keeps the KDF of the passphrase slot replaced.
    kdf: str | None = None
    #: A note ``key list`` shows; None keeps the label of the passphrase slot replaced.
    label: str | None = None


@operation("key passwd", options=KeyPasswdOptions, result=KeyChange, mutates=True)
def key_passwd(ctx: OperationContext, options: KeyPasswdOptions) -> KeyChange:
    """Change the passphrase (the new slot replaces the passphrase slot in use)."""
    with opened(ctx) as repo:
        info = keys.change_passphrase(repo, options.new_passphrase, options.kdf, options.label)
    return KeyChange("passwd", info)


@dataclass(frozen=True)
class KeySplitOptions:
    """N shares, any M recover; share files are written to ``out_dir`` when given."""

    shares: int
    threshold: int
    out_dir: str | None = None
    label: str = ""


@operation(
    "key split", options=KeySplitOptions, result=SplitResult, mutates=True, reads_secrets=True
)
def key_split(ctx: OperationContext, options: KeySplitOptions) -> SplitResult:
    """Add a recovery slot and split its secret into N SLIP-39 shares (any M recover)."""
    with opened(ctx) as repo:
        return keys.split(repo, options.shares, options.threshold, options.out_dir, options.label)


@dataclass(frozen=True)
class KeyRecoverOptions:
    """M recovery shares and the passphrase of the slot to add."""

    shares: list[str] = field(repr=False, metadata={"secret": True})
    new_passphrase: bytes = secret_option()
    kdf: str = "argon2id"
    label: str = "recovered"


@operation("key recover", options=KeyRecoverOptions, result=KeyChange, mutates=True)
def key_recover(ctx: OperationContext, options: KeyRecoverOptions) -> KeyChange:
    """Open with M recovery shares and add a passphrase slot."""
    info = keys.recover(
        ctx.url,
        options.shares,
        options.new_passphrase,
        options.kdf,
        ctx.backend_options(),
        options.label,
    )
    return KeyChange("key_recovered", info)


def check_shares(mnemonics: list[str]) -> None:
    """Raise :class:`RecoveryShareError` unless the shares combine (before asking more)."""
    shares.combine(mnemonics)


def normalize_share(text: str) -> str:
    """One share from free text (comment lines dropped, words lower-cased)."""
    return shares.normalize(text)


def share_threshold(text: str, number: int) -> int:
    """How many shares the split of share ``number`` needs (RecoveryShareError if bad)."""
    return int(shares.parse_share(text, number).member_threshold)
