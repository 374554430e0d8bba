"""One recognised piece of key material (:class:`Finding`) and a snapshot's set of them.

A finding holds names and facts (subject, algorithm, size, fingerprints, expiry, file
mode, flags), never key bytes, passphrases or secret values. Inventories are stored in
snapshots, so :meth:`Finding.from_dict` and :meth:`Inventory.from_dict` check the type
and range of every field (storage is untrusted) and raise :class:`~keyark.errors.FormatError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from keyark.repo.fields import (
    INT64_MAX,
    UINT32_MAX,
    Fields,
    checker,
    malformed_object,
    require_str,
)

#: The kinds of finding.
KINDS: tuple[str, ...] = (
    "certificate",
    "private_key",
    "public_key",
    "pkcs12",
    "ssh_public_key",
    "authorized_keys",
    "known_hosts",
    "gpg_keyring",
    "jwk",
    "service_account",
    "kubeconfig",
    "env_file",
)

#: Flags set while recognising one file.
FILE_FLAGS: tuple[str, ...] = (
    "group-or-world-readable",
    "unencrypted",
    "weak-rsa",
    "dsa",
    "sha1-signature",
    "md5-signature",
    "protected-bundle",
)
#: Flags set by :func:`keyark.inventory.linking.link` across the files of a snapshot.
LINK_FLAGS: tuple[str, ...] = ("expired", "expiring", "no-private-key", "no-certificate")
#: Every flag this version sets; :meth:`Finding.from_dict` also accepts unknown
#: well-formed flags (a later version's), so an old reader still lists the inventory.
FLAGS: tuple[str, ...] = FILE_FLAGS + LINK_FLAGS
#: The flags ``--weak`` selects.
WEAK_FLAGS: frozenset[str] = frozenset({"weak-rsa", "dsa", "sha1-signature", "md5-signature"})

#: The inventory document's version.
INVENTORY_VERSION = 1

_TOKEN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_FINGERPRINT = re.compile(r"[A-Z0-9]{1,16}:[0-9a-f]{8,128}")
_MAX_TEXT = 4096
_MAX_PATH = 65536
_MAX_ITEMS = 100_000
_MAX_FINDINGS = 10_000_000
_MAX_KEY_BITS = 1 << 20
_MAX_MODE = 0o177777


@dataclass(frozen=True)
class Finding:
    """One recognised piece of key material in one file (a file may give several).

    ``fingerprint`` is ``SHA256:<hex>`` of the certificate's DER, of an X.509-world
    key's SubjectPublicKeyInfo, of an SSH key's blob (OpenSSH and PuTTY keys, public
    keys: what ``ssh-keygen -l`` shows, in hex; see ``normalise_fingerprint``), or
    ``OPENPGP:<hex>`` for a GnuPG key; ``public_key_fingerprint`` is always the SHA-256
    of the SubjectPublicKeyInfo (when known), so a certificate, its private key and an
    SSH key of the same key pair share it. ``format`` says how the material was
    stored (``PEM PKCS#8``, ``OpenSSH``, ``PKCS#12``, ...); ``key_id`` is a JWK
    ``kid``, a service account's private key id or a GnuPG key id.
    ``secret`` marks findings that describe secret material (a private key, a key
    bundle, secret-looking ``.env`` names): the readable-by-others flag applies to those.
    """

    kind: str
    path: str
    name: str | None = None
    algorithm: str | None = None
    size: int | None = None
    fingerprint: str | None = None
    public_key_fingerprint: str | None = None
    subject: str | None = None
    issuer: str | None = None
    serial: str | None = None
    sans: tuple[str, ...] = ()
    signature_algorithm: str | None = None
    is_ca: bool | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    encrypted: bool | None = None
    count: int | None = None
    names: tuple[str, ...] = ()
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    flags: tuple[str, ...] = ()
    format: str | None = None
    key_id: str | None = None
    secret: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: every field, datetimes as ISO 8601 UTC, tuples as lists."""
        values = self.__dict__
        data: dict[str, Any] = {name: values[name] for name in _FIELD_ORDER}
        for name in _TIME_FIELDS:
            moment = data[name]
            if moment is not None:
                data[name] = moment.astimezone(UTC).isoformat()
        for name in _TUPLE_FIELDS:
            data[name] = list(data[name])
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], what: str = "inventory finding") -> Finding:
        """Parse :meth:`to_dict`'s form, checking every field; FormatError when malformed."""
        quick = _quick_finding(data)
        if quick is not None:
            return quick
        doc = Fields(data, what)
        kind = _token(doc.get_str("kind", max_len=64), doc.name("kind"))

        def text(key: str, max_len: int = _MAX_TEXT) -> str | None:
            return doc.get_optional(key, checker(require_str, max_len=max_len))

        def integer(key: str, hi: int) -> int | None:
            value = doc.get(key, None)
            return None if value is None else doc.get_int(key, 0, hi)

        def boolean(key: str) -> bool | None:
            return None if doc.get(key, None) is None else doc.get_bool(key)

        def strings(key: str, check: Any = None) -> tuple[str, ...]:
            items = doc.get_list_of(
                key, check or checker(require_str, max_len=_MAX_TEXT), [], max_items=_MAX_ITEMS
            )
            return tuple(items)

        return cls(
            kind=kind,
            path=doc.get_str("path", max_len=_MAX_PATH),
            name=text("name"),
            algorithm=text("algorithm", 64),
            size=integer("size", _MAX_KEY_BITS),
            fingerprint=doc.get_optional("fingerprint", _fingerprint),
            public_key_fingerprint=doc.get_optional("public_key_fingerprint", _fingerprint),
            subject=text("subject"),
            issuer=text("issuer"),
            serial=text("serial", 256),
            sans=strings("sans"),
            signature_algorithm=text("signature_algorithm", 128),
            is_ca=boolean("is_ca"),
            not_before=doc.get_optional("not_before", _timestamp),
            not_after=doc.get_optional("not_after", _timestamp),
            encrypted=boolean("encrypted"),
            count=integer("count", INT64_MAX),
            names=strings("names"),
            mode=integer("mode", _MAX_MODE),
            uid=integer("uid", UINT32_MAX),
            gid=integer("gid", UINT32_MAX),
            flags=strings("flags", _token),
            format=text("format", 64),
            key_id=text("key_id", 256),
            secret=doc.get_bool("secret", False),
        )

    @property
    def weak(self) -> bool:
        """Whether a weak-algorithm flag (small RSA, DSA, SHA-1 or MD5 signature) is set."""
        return any(flag in WEAK_FLAGS for flag in self.flags)


_FIELD_ORDER = tuple(field.name for field in fields(Finding))
_FIELD_NAMES = frozenset(_FIELD_ORDER)
_TIME_FIELDS = ("not_before", "not_after")
_TUPLE_FIELDS = ("sans", "names", "flags")
#: Optional text fields and their longest length; optional integers and their maximum.
_TEXT_LIMITS = {
    "name": _MAX_TEXT,
    "algorithm": 64,
    "subject": _MAX_TEXT,
    "issuer": _MAX_TEXT,
    "serial": 256,
    "signature_algorithm": 128,
    "format": 64,
    "key_id": 256,
}
_INT_LIMITS = {
    "size": _MAX_KEY_BITS,
    "count": INT64_MAX,
    "mode": _MAX_MODE,
    "uid": UINT32_MAX,
    "gid": UINT32_MAX,
}


def _quick_finding(data: object) -> Finding | None:
    """:meth:`Finding.from_dict` of a plainly well-formed ``data`` (exact types, every
    check of the checking path passed), without building a message per field; None
    when anything is unusual, and the checking path then decides (and words the error)."""
    if type(data) is not dict:
        return None
    get = data.get
    kind = get("kind")
    path = get("path")
    if type(kind) is not str or len(kind) > 64 or not _TOKEN.fullmatch(kind):
        return None
    if type(path) is not str or len(path) > _MAX_PATH or "\0" in path:
        return None
    values: dict[str, Any] = {"kind": kind, "path": path}
    for key, limit in _TEXT_LIMITS.items():
        text = get(key)
        if text is not None and (type(text) is not str or len(text) > limit or "\0" in text):
            return None
        values[key] = text
    for key, high in _INT_LIMITS.items():
        number = get(key)
        if number is not None and (type(number) is not int or not 0 <= number <= high):
            return None
        values[key] = number
    for key in ("is_ca", "encrypted"):
        flag = get(key)
        if flag is not None and type(flag) is not bool:
            return None
        values[key] = flag
    for key in ("fingerprint", "public_key_fingerprint"):
        text = get(key)
        if text is not None and (
            type(text) is not str or len(text) > 160 or not _FINGERPRINT.fullmatch(text)
        ):
            return None
        values[key] = text
    for key in _TIME_FIELDS:
        text = get(key)
        if text is not None:
            if type(text) is not str or len(text) > 64 or "\0" in text:
                return None
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                return None
            if moment.tzinfo is None:
                return None
            text = moment.astimezone(UTC)
        values[key] = text
    for key in _TUPLE_FIELDS:
        items = get(key, ())
        if type(items) not in (list, tuple) or len(items) > _MAX_ITEMS:
            return None
        for item in items:
            if type(item) is not str or len(item) > _MAX_TEXT or "\0" in item:
                return None
            if key == "flags" and (len(item) > 64 or not _TOKEN.fullmatch(item)):
                return None
        values[key] = tuple(items)
    secret = get("secret", False)
    if type(secret) is not bool:
        return None
    values["secret"] = secret
    finding = object.__new__(Finding)  # every field is set: what __init__ would do, faster
    finding.__dict__.update(values)
    return finding


def amended(finding: Finding, **changes: Any) -> Finding:
    """A copy of ``finding`` with ``changes``: :func:`dataclasses.replace`, without its
    per-call introspection (recognition amends every finding it makes)."""
    if not _FIELD_NAMES.issuperset(changes):
        raise TypeError(f"not fields of a finding: {sorted(set(changes) - _FIELD_NAMES)}")
    copy = object.__new__(Finding)
    copy.__dict__.update(finding.__dict__)
    copy.__dict__.update(changes)
    return copy


@dataclass
class Inventory:
    """The findings of one snapshot and when they were computed."""

    findings: list[Finding]
    created: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (version, created, findings)."""
        return {
            "version": INVENTORY_VERSION,
            "created": self.created.astimezone(UTC).isoformat(),
            "findings": [finding.to_dict() for finding in self.findings],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Inventory:
        """Parse :meth:`to_dict`'s form, checking every field; FormatError when malformed."""
        doc = Fields(data, "inventory")
        version = doc.get_int("version", 1, INT64_MAX)
        if version > INVENTORY_VERSION:
            raise malformed_object(
                f"inventory version {version} is newer than this version reads"
                f" ({INVENTORY_VERSION})"
            )
        raw = doc.get_list("findings", max_items=_MAX_FINDINGS)
        findings = [
            Finding.from_dict(item, f"inventory finding {index}") for index, item in enumerate(raw)
        ]
        return cls(findings=findings, created=_timestamp(doc.get("created"), doc.name("created")))


def _token(value: object, name: str) -> str:
    text = require_str(value, name, max_len=64)
    if not _TOKEN.fullmatch(text):
        raise malformed_object(f"{name} must be a lower-case word: the inventory is malformed")
    return text


def _fingerprint(value: object, name: str) -> str:
    text = require_str(value, name, max_len=160)
    if not _FINGERPRINT.fullmatch(text):
        raise malformed_object(
            f"{name} must be ALGORITHM:hex (e.g. SHA256:...): the inventory is malformed"
        )
    return text


def _timestamp(value: object, name: str) -> datetime:
    text = require_str(value, name, max_len=64)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise malformed_object(
            f"{name} must be an ISO 8601 time: the inventory is malformed"
        ) from None
    if moment.tzinfo is None:
        raise malformed_object(f"{name} must carry a time zone: the inventory is malformed")
    return moment.astimezone(UTC)
