"""``export verify``: check an archive against its manifests and its signature.

In order, stopping at the first mismatch (an :class:`ArchiveIntegrityError` naming it):

1. the signature file, when present: its signature, then its key against the pinned
   one (without a pinned key it is checked for consistency only, and said so); a pinned
   key and no signature file is a mismatch;
2. each manifest file's SHA-256 against the statement (and every manifest the
   statement names must be there);
3. every member of the archive against every manifest: a differing digest, a member
   the manifests do not list, a listed member missing from the archive;
4. the archive file's size and SHA-256 against the statement.

An age-encrypted archive's members (and its manifests, which are encrypted too) are
checked only with the recipient's identity; without it, steps 1, 2 and 4 are.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from keyark.errors import (
    ArchiveIntegrityError,
    FormatError,
    Hint,
    UsageError,
)
from keyark.events import Code, Events
from keyark.exchange.manifest import (
    ALGORITHMS,
    MANIFEST_NAMES,
    HashingReader,
    hash_stream,
    parse_manifest,
)
from keyark.exchange.members import FILE, HARDLINK, read_members
from keyark.exchange.signing import (
    KEY_PREFIX,
    SIGNATURE_SUFFIX,
    InvalidSignatureError,
    SignedStatement,
    open_signature,
)
from keyark.exchange.streams import AGE_MAGIC, age_decrypt, age_identity, decrypting

_DISPLAY = {"sha256": "SHA-256", "sha1": "SHA-1", "md5": "MD5"}


@dataclass
class Verification:
    """What was checked, all of it matching."""

    archive: str
    #: Manifest names checked (``SHA256SUMS``, ...).
    manifests: list[str] = field(default_factory=list)
    #: Members whose content was checked (0 when they could not be read).
    members: int = 0
    members_checked: bool = False
    encrypted: bool = False
    signed: bool = False
    #: ``ed25519:<hex>`` of the key that signed it.
    signer: str | None = None
    #: Whether the signer is the pinned key (False: no key was pinned).
    pinned: bool = False
    #: The signed statement (snapshot, repository, time of export).
    statement: dict[str, Any] = field(default_factory=dict)


def verify_archive(
    archive: Path,
    events: Events,
    *,
    pinned: bytes | None = None,
    identity: str | None = None,
) -> Verification:
    """Verify ``archive`` (see the module docstring); ArchiveIntegrityError at a mismatch."""
    if not archive.is_file():
        raise UsageError(f"{archive} is not a file")
    result = Verification(str(archive))
    with archive.open("rb") as handle:
        result.encrypted = handle.read(len(AGE_MAGIC)) == AGE_MAGIC
    signed = _check_signature(archive, pinned, events, result)
    manifests = _manifest_files(archive, signed)
    result.manifests = [MANIFEST_NAMES[algorithm] for algorithm in manifests]
    if not manifests and signed is None:
        raise ArchiveIntegrityError(
            f"nothing to verify {archive} against: no {archive.name}.SHA256SUMS nor "
            f"{archive.name}{SIGNATURE_SUFFIX} beside it"
        )
    key = None if identity is None else age_identity(identity)
    readable = not result.encrypted or key is not None
    if not readable:
        events.warn(
            Code.EXPORT_UNCHECKED,
            f"{archive.name} is encrypted: its members were not checked (no identity given)",
            subject=str(archive),
        )
        if signed is None:
            raise ArchiveIntegrityError(
                f"{archive} is encrypted and unsigned: give the recipient's identity to check it"
            )
    lists = {}
    if readable:
        for algorithm, data in manifests.items():
            text = _decrypted(data, key, f"{archive.name}.{MANIFEST_NAMES[algorithm]}")
            name = f"{archive.name}.{MANIFEST_NAMES[algorithm]}"
            try:
                lists[algorithm] = parse_manifest(algorithm, text, name)
            except FormatError as error:
                raise ArchiveIntegrityError(str(error)) from None
    with archive.open("rb") as handle:
        raw = HashingReader(handle, ("sha256",))
        if readable:
            result.members = _check_members(archive, raw, key, lists)
            result.members_checked = True
        while raw.read(1 << 20):
            pass
    if signed is not None:
        _check_archive_digest(archive, signed.statement, raw)
    return result


def _check_signature(
    archive: Path, pinned: bytes | None, events: Events, result: Verification
) -> SignedStatement | None:
    path = archive.with_name(archive.name + SIGNATURE_SUFFIX)
    if not path.is_file():
        if pinned is not None:
            raise ArchiveIntegrityError(
                f"{archive} has no signature ({path.name} is missing), so it cannot be checked "
                "against the pinned key"
            )
        return None
    try:
        signed = open_signature(path.read_bytes(), path.name)
    except InvalidSignatureError as error:
        raise ArchiveIntegrityError(str(error), hint=Hint.EXPORT_KEY) from None
    except FormatError as error:
        raise ArchiveIntegrityError(str(error)) from None
    result.signed, result.signer, result.statement = True, signed.public_key, signed.statement
    if pinned is None:
        events.warn(
            Code.EXPORT_UNPINNED,
            f"{path.name} is signed by {signed.public_key}, which was not checked against a "
            "pinned key: compare it with the sender's",
            subject=str(archive),
        )
    elif signed.public_key != KEY_PREFIX + pinned.hex():
        raise ArchiveIntegrityError(
            f"{archive.name} is signed by {signed.public_key}, not by the pinned key "
            f"{KEY_PREFIX}{pinned.hex()}",
            hint=Hint.EXPORT_KEY,
        )
    else:
        result.pinned = True
    return signed


def _manifest_files(archive: Path, signed: SignedStatement | None) -> dict[str, bytes]:
    """Algorithm -> manifest file bytes, each checked against the statement when signed."""
    found: dict[str, bytes] = {}
    covered = signed.statement.get("manifests", {}) if signed is not None else {}
    if not isinstance(covered, dict):
        raise ArchiveIntegrityError(f"{archive.name}{SIGNATURE_SUFFIX} lists no manifests")
    for algorithm in ALGORITHMS:
        name = MANIFEST_NAMES[algorithm]
        path = archive.with_name(f"{archive.name}.{name}")
        if not path.is_file():
            if name in covered:
                raise ArchiveIntegrityError(f"{path.name} is missing (the signature covers it)")
            continue
        data = path.read_bytes()
        if signed is not None:
            if name not in covered:
                raise ArchiveIntegrityError(f"{path.name} is not covered by the signature")
            if hashlib.sha256(data).hexdigest() != covered[name]:
                raise ArchiveIntegrityError(f"{path.name} differs from the signed one")
        found[algorithm] = data
    return found


def _decrypted(data: bytes, key: object | None, what: str) -> bytes:
    if not data.startswith(AGE_MAGIC):
        return data
    if key is None:
        raise ArchiveIntegrityError(f"{what} is encrypted: give the recipient's identity")
    return age_decrypt(data, key, what)


def _check_members(
    archive: Path, raw: HashingReader, key: object | None, lists: dict[str, dict[str, str]]
) -> int:
    algorithms = tuple(lists)
    seen: dict[str, dict[str, str]] = {}
    if key is None:
        count = _walk_members(archive, raw, algorithms, lists, seen)  # type: ignore[arg-type]
    else:
        with decrypting(raw, key, archive.name) as plain:  # type: ignore[arg-type]
            count = _walk_members(archive, plain, algorithms, lists, seen)
    for algorithm, listed in lists.items():
        for name in listed:
            if name not in seen:
                raise ArchiveIntegrityError(
                    f"{name} is listed in {archive.name}.{MANIFEST_NAMES[algorithm]} "
                    "but missing from the archive"
                )
    return count


def _walk_members(
    archive: Path,
    stream: BinaryIO,
    algorithms: tuple[str, ...],
    lists: dict[str, dict[str, str]],
    seen: dict[str, dict[str, str]],
) -> int:
    count = 0
    try:
        for member in read_members(stream, archive.name):
            if member.kind == FILE and member.content is not None:
                digests, _length = hash_stream(member.content, algorithms)
            elif member.kind == HARDLINK and member.target in seen:
                digests = seen[member.target]
            else:
                continue
            seen[member.name] = digests
            count += 1
            for algorithm in algorithms:
                manifest = f"{archive.name}.{MANIFEST_NAMES[algorithm]}"
                expected = lists[algorithm].get(member.name)
                if expected is None:
                    raise ArchiveIntegrityError(f"{member.name} is not listed in {manifest}")
                if expected != digests[algorithm]:
                    raise ArchiveIntegrityError(
                        f"{member.name}: its {_DISPLAY[algorithm]} differs from {manifest}"
                    )
    except FormatError as error:
        raise ArchiveIntegrityError(str(error)) from None
    return count


def _check_archive_digest(archive: Path, statement: dict[str, Any], raw: HashingReader) -> None:
    signed = statement.get("archive")
    if not isinstance(signed, dict):
        raise ArchiveIntegrityError(f"{archive.name}{SIGNATURE_SUFFIX} names no archive")
    if signed.get("size") != raw.length or signed.get("sha256") != raw.digests()["sha256"]:
        raise ArchiveIntegrityError(
            f"{archive.name} differs from the signed archive (size or SHA-256)"
        )


__all__ = ["Verification", "verify_archive"]
