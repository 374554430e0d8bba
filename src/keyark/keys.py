"""Key-slot pipelines: list, add, remove, change passphrase, split into shares, recover.

The key operations of the catalogue (:mod:`keyark.ops.keys`) run these on an opened
repository. Slots wrap KR, so nothing here touches data, index or snapshots. Each
function checks its input before writing, and writes at most one slot (plus the files
it promised), so a refused request changes nothing.

Example::

    from keyark import keys, storage

    repo = storage.open_repository(url, keys.credentials(passphrase=b"old"))
    keys.add_key_file(repo, "/root/backup.key")
    shares = keys.split(repo, shares=5, threshold=3, out_dir="/root/shares")
    ...
    keys.recover(url, ["word word ...", "...", "..."], new_passphrase=b"new")
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from keyark.backends.registry import BackendOptions
from keyark.crypto import hsm, kdf, keyfile, shares, slots
from keyark.crypto.credentials import credentials as credentials  # noqa: PLC0414 (re-export)
from keyark.crypto.envelope import SymmetricKey
from keyark.crypto.slots import Credentials, KeySlot
from keyark.errors import Hint, UsageError
from keyark.repo.repository import Repository, list_slots
from keyark.storage import EMPTY_PASSPHRASE, open_repository_backend


@dataclass(frozen=True)
class KeyInfo:
    """What ``key list`` shows of a slot: never a secret, never wrapped material."""

    slot_id: str
    kind: str
    created: str
    host: str
    username: str
    label: str
    current: bool
    details: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """The details in a few words."""
        d = self.details
        if self.kind == slots.PASSPHRASE:
            if d.get("kdf") == kdf.PBKDF2_SHA256:
                return f"pbkdf2-sha256, {d.get('iterations', '?')} iterations"
            memory = int(d.get("memory_kib", 0)) // 1024
            return f"argon2id, t={d.get('time_cost')} m={memory}MiB p={d.get('parallelism')}"
        if self.kind == hsm.PKCS11:
            return f"token {d.get('token')}, key {d.get('key')}, {d.get('mechanism')}"
        if self.kind == shares.RECOVERY:
            return f"{d.get('threshold')}-of-{d.get('shares')} shares, split {d.get('identifier')}"
        return ""

    def to_dict(self) -> dict[str, Any]:
        """As ``key list --json`` shows it (the slot id under ``id``)."""
        data = asdict(self)
        return {"id": data.pop("slot_id"), **data}


@dataclass(frozen=True)
class SplitResult:
    """The recovery slot ``split`` added and its shares (secret: keep them apart)."""

    key: KeyInfo
    identifier: int
    threshold: int
    mnemonics: list[str] = field(repr=False, metadata={"secret": True})
    files: list[Path] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The split's public part: the shares themselves only through :attr:`mnemonics`."""
        document: dict[str, Any] = {
            "message_type": "key_split",
            "slot": self.key.slot_id,
            "identifier": self.identifier,
            "threshold": self.threshold,
            "shares": len(self.mnemonics),
        }
        if self.files:
            document["files"] = [str(path) for path in self.files]
        return document


# --------------------------------------------------------------------- list
def describe(slot: KeySlot, current_id: str = "") -> KeyInfo:
    """The public view of one slot."""
    details: dict[str, Any] = {}
    params = slot.params
    if slot.kind == slots.PASSPHRASE:
        raw = dict(params.get("kdf", {}))
        details = {"kdf": raw.get("name", "")}
        for name in ("time_cost", "memory_kib", "parallelism", "iterations"):
            if name in raw:
                details[name] = raw[name]
    elif slot.kind == hsm.PKCS11:
        details = {k: params.get(k) for k in ("module", "token", "key", "mechanism")}
    elif slot.kind == shares.RECOVERY:
        details = {k: params.get(k) for k in ("scheme", "threshold", "shares", "identifier")}
    return KeyInfo(
        slot_id=slot.slot_id,
        kind=slot.kind,
        created=slot.created,
        host=slot.host,
        username=slot.username,
        label=slot.label,
        current=slot.slot_id == current_id,
        details=details,
    )


def list_keys(repo: Repository) -> list[KeyInfo]:
    """Every key slot, oldest first; ``current`` marks the one that opened ``repo``."""
    keys = repo.keys
    current = keys.slot.slot_id if keys.slot else ""
    found = keys.slots()
    if keys.root_key is not None:
        for slot in found:
            slot.reveal(keys.root_key)  # host, user, label, created are sealed under KR
    found.sort(key=lambda s: (s.created, s.slot_id))
    return [describe(slot, current) for slot in found]


# --------------------------------------------------------------------- add
def _root(repo: Repository) -> SymmetricKey:
    if repo.keys.root_key is None:
        raise UsageError("this key cannot add key slots (it does not hold the keyring key)")
    return repo.keys.root_key


def add_passphrase(
    repo: Repository, passphrase: bytes, kdf_name: str = kdf.ARGON2ID, label: str = ""
) -> KeyInfo:
    """Add a passphrase slot (Argon2id, or ``pbkdf2`` = PBKDF2-HMAC-SHA256 600,000 rounds)."""
    slot = slots.passphrase_slot(_root(repo), _checked(passphrase), kdf_of(kdf_name), label)
    repo.keys.add_slot(slot)
    return describe(slot)


def _checked(passphrase: bytes) -> bytes:
    if not passphrase:
        raise UsageError(EMPTY_PASSPHRASE)
    return passphrase


def kdf_of(name: str) -> str:
    """The KDF called ``name`` (``argon2id``; ``pbkdf2`` = PBKDF2-HMAC-SHA256); else UsageError."""
    known = kdf.PBKDF2_SHA256 if name == "pbkdf2" else name
    if known not in (kdf.ARGON2ID, kdf.PBKDF2_SHA256):
        raise UsageError(f"unknown KDF {name!r} (use argon2id or pbkdf2)")
    return known


def add_key_file(repo: Repository, path: str | os.PathLike[str], label: str = "") -> KeyInfo:
    """Create a new key file at ``path`` (0600, never overwriting) and a slot it opens."""
    root = _root(repo)
    secret = keyfile.create_key_file(path)
    try:
        slot = keyfile.key_file_slot(root, secret, label)
        repo.keys.add_slot(slot)
    except BaseException:
        Path(path).unlink(missing_ok=True)  # no slot, so the file opens nothing: undo
        raise
    return describe(slot)


def add_pkcs11(repo: Repository, config: hsm.Pkcs11Config, label: str = "") -> KeyInfo:
    """Add a slot whose key-encryption key the HSM key wraps (checked by an unwrap first)."""
    slot = hsm.pkcs11_slot(_root(repo), config, label)
    repo.keys.add_slot(slot)
    return describe(slot)


# --------------------------------------------------------------------- remove / passwd
def find_slot(repo: Repository, reference: str) -> KeySlot:
    """The slot whose id starts with ``reference`` (unique prefix, at least 4 characters)."""
    reference = reference.strip().lower()
    if len(reference) < 4:
        raise UsageError("give at least 4 characters of the key slot id", hint=Hint.KEY_LIST)
    matches = [s for s in repo.keys.slots() if s.slot_id.startswith(reference)]
    if not matches:
        raise UsageError(f"no key slot {reference}", hint=Hint.KEY_LIST)
    if len(matches) > 1:
        raise UsageError(f"key slot prefix {reference} is ambiguous; give more characters")
    return matches[0]


def remove_key(repo: Repository, reference: str, *, force: bool = False) -> KeyInfo:
    """Delete one slot; never the last one, and the one in use only with ``force``."""
    slot = find_slot(repo, reference)
    if len(repo.keys.slots()) <= 1:
        raise UsageError(
            f"key slot {slot.slot_id[:8]} is the last one; add another before removing it"
        )
    current = repo.keys.slot is not None and repo.keys.slot.slot_id == slot.slot_id
    if current and not force:
        raise UsageError(
            f"key slot {slot.slot_id[:8]} is the one that opened the repository now",
            hint=Hint.FORCE_REMOVE,
        )
    repo.keys.delete_slot(slot)
    return describe(slot)


def change_passphrase(
    repo: Repository,
    new_passphrase: bytes,
    kdf_name: str | None = None,
    label: str | None = None,
) -> KeyInfo:
    """Replace the passphrase slot in use (or add one when another kind opened ``repo``).

    The new slot keeps the replaced slot's KDF and label unless ``kdf_name`` or
    ``label`` is given (a new slot beside another kind: Argon2id, no label). The new
    slot is durable before the old one goes.
    """
    keys = repo.keys
    if keys.root_key is None or keys.slot is None:
        raise UsageError("this key cannot change passphrases")
    old = keys.slot
    replaces = old.kind == slots.PASSPHRASE
    if replaces:
        old.reveal(keys.root_key)  # the label is sealed under KR
    kept_kdf = slots.passphrase_params(old).name if replaces else kdf.ARGON2ID
    kept_label = old.label if replaces else ""
    slot = slots.passphrase_slot(
        keys.root_key,
        _checked(new_passphrase),
        kdf_of(kdf_name or kept_kdf),
        kept_label if label is None else label,
    )
    keys.add_slot(slot)
    if replaces:
        keys.delete_slot(old)
    keys.use_slot(slot)
    return describe(slot, slot.slot_id)


# --------------------------------------------------------------------- recovery shares
def split(
    repo: Repository,
    shares_count: int,
    threshold: int,
    out_dir: str | os.PathLike[str] | None = None,
    label: str = "",
) -> SplitResult:
    """Add a recovery slot under a fresh secret split M-of-N; write share files if asked.

    Share files are ``share-I-of-N.txt`` (0600) in ``out_dir`` (made 0700; an existing
    one must not be accessible by group or others).
    """
    root = _root(repo)
    secret = os.urandom(shares.SECRET_SIZE)
    share_set = shares.split(secret, threshold, shares_count)
    files: list[Path] = []
    if out_dir is not None:
        files = _write_shares(Path(out_dir), share_set, repo.repo_id)
    try:
        slot = shares.recovery_slot(root, secret, share_set, label)
        repo.keys.add_slot(slot)
    except BaseException:
        for path in files:
            path.unlink(missing_ok=True)
        raise
    return SplitResult(
        describe(slot), share_set.identifier, share_set.threshold, share_set.mnemonics, files
    )


def _write_shares(directory: Path, share_set: shares.ShareSet, repo_id: str) -> list[Path]:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        mode = stat.S_IMODE(directory.stat().st_mode)
    except OSError as error:
        raise UsageError(f"cannot create share directory {directory}: {error.strerror}") from None
    if mode & 0o077:
        raise UsageError(
            f"share directory {directory} is accessible by group or others (mode {mode:04o}); "
            "use a private directory (chmod 700)"
        )
    count = share_set.count
    paths = [directory / f"share-{i}-of-{count}.txt" for i in range(1, count + 1)]
    existing = [p for p in paths if p.exists()]
    if existing:
        raise UsageError(f"{existing[0]} already exists; use an empty share directory")
    written: list[Path] = []
    try:
        for number, (path, mnemonic) in enumerate(zip(paths, share_set.mnemonics, strict=True), 1):
            text = (
                f"# keyark recovery share {number} of {count} (any {share_set.threshold} "
                f"recover the key), split {share_set.identifier}, repository {repo_id[:10]}\n"
                f"{mnemonic}\n"
            )
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            written.append(path)
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
    except OSError as error:
        for path in written:
            path.unlink(missing_ok=True)
        raise UsageError(f"cannot write share files in {directory}: {error.strerror}") from None
    return paths


def read_share_file(path: str | os.PathLike[str]) -> str:
    """One share from a file written by :func:`split` (comment lines ignored)."""
    try:
        return shares.normalize(Path(path).read_text())
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not a text file"
        raise UsageError(f"cannot read share file {path}: {reason}") from None


def recover(
    url: str,
    mnemonics: Sequence[str],
    new_passphrase: bytes,
    kdf_name: str = kdf.ARGON2ID,
    backend_options: BackendOptions | None = None,
    label: str = "",
) -> KeyInfo:
    """Open the repository with M recovery shares and add a passphrase slot."""
    secret, identifier = shares.combine(mnemonics)
    _checked(new_passphrase)
    backend = open_repository_backend(url, backend_options)
    fitting = [
        s
        for s in list_slots(backend)
        if s.kind == shares.RECOVERY and str(s.params.get("identifier")) == str(identifier)
    ]
    if not fitting:
        backend.close()
        raise shares.RecoveryShareError(
            f"these shares (split {identifier}) belong to no recovery slot of this repository"
        )
    creds = Credentials(unlockers={shares.RECOVERY: shares.unlocker(secret, identifier)})
    try:
        repo = Repository.open(backend, creds)
    except BaseException:
        backend.close()
        raise
    with repo:
        return add_passphrase(repo, new_passphrase, kdf_name, label)
