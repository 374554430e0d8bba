"""The repository ``config`` object: plaintext parameters plus a sealed part.

The plaintext part tells any tool what it is looking at (format version, id,
profile, sizes). The sealed part, keyed from the id key (which write-only agents
hold too), carries the chunker seed and policies that should not be public.
Every field is covered by an Ed25519 signature made with the keyring's config
signing key (design D2), so only full-key holders can change one, and every
size is bounded before anything uses it.
"""

from __future__ import annotations

import hmac
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any, TypeVar

import blake3
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keyark.chunker import ChunkerParams
from keyark.crypto.envelope import KEY_ID_SIZE, ObjectKind, Sealer, SymmetricKey
from keyark.errors import FormatError, Hint, IntegrityError

_T = TypeVar("_T")

FORMAT_VERSION = 2
CONFIG_NAME = "config"
DEFAULT_PACK_SIZE = 16 * 1024 * 1024
PROFILE_DEFAULT = "default"
PROFILE_FIPS = "fips"
#: Domain separation for the config signature (design D2).
SIGNATURE_CONTEXT = b"keyark config v2\0"
MIN_PACK_SIZE = 1024 * 1024
MAX_PACK_SIZE = 128 * 1024 * 1024
MIN_CHUNK = 64 * 1024
MAX_CHUNK = 16 * 1024 * 1024
_BLOB_ID = {PROFILE_DEFAULT: "blake3-keyed", PROFILE_FIPS: "hmac-sha256"}
_FIELDS = frozenset(
    ("version", "id", "profile", "created", "pack_size", "chunker", "blob_id", "public", "sealed")
)


def derive_subkey(id_key: bytes, purpose: str) -> SymmetricKey:
    """A key for repository-wide metadata (config, locks) derived from the id key."""
    material = HKDF(
        algorithm=hashes.SHA256(), length=32 + KEY_ID_SIZE, salt=None, info=purpose.encode()
    ).derive(id_key)
    return SymmetricKey(material[32:], material[:32])


def canonical_json(document: dict[str, Any]) -> bytes:
    """Sorted keys, no whitespace: the bytes the config signature covers."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class RepoConfig:
    """Parsed ``config``: every field bounded and authenticated by the signature."""

    repo_id: str
    profile: str = PROFILE_DEFAULT
    pack_size: int = DEFAULT_PACK_SIZE
    chunker: ChunkerParams = field(default_factory=ChunkerParams)
    created: str = ""
    #: Sealed settings (rotation policy, ...), kept verbatim for later features.
    policies: dict[str, Any] = field(default_factory=dict)
    #: Plaintext settings other components add (backend features such as object lock).
    public: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(cls, profile: str = PROFILE_DEFAULT, pack_size: int = DEFAULT_PACK_SIZE) -> RepoConfig:
        seed = int.from_bytes(os.urandom(8), "little") >> 1
        return cls(
            repo_id=os.urandom(32).hex(),
            profile=profile,
            pack_size=pack_size,
            chunker=ChunkerParams(seed=seed),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    def to_bytes(self, id_key: bytes, signing_key: bytes) -> bytes:
        """Serialise and sign with the keyring's config signing key (raw Ed25519 private)."""
        _check_sizes(self.pack_size, self.chunker)
        sealed = {"chunker_seed": self.chunker.seed, "policies": self.policies}
        sealer = Sealer(derive_subkey(id_key, "keyark config"))
        document: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "id": self.repo_id,
            "profile": self.profile,
            "created": self.created,
            "pack_size": self.pack_size,
            "chunker": {
                "algorithm": "fastcdc",
                "min": self.chunker.min_size,
                "avg": self.chunker.avg_size,
                "max": self.chunker.max_size,
            },
            "blob_id": _BLOB_ID.get(self.profile, ""),
            "public": self.public,
            "sealed": sealer.seal(
                ObjectKind.CONFIG, CONFIG_NAME.encode(), json.dumps(sealed).encode()
            ).hex(),
        }
        private = ed25519.Ed25519PrivateKey.from_private_bytes(signing_key)
        document["signature"] = private.sign(SIGNATURE_CONTEXT + canonical_json(document)).hex()
        return json.dumps(document, indent=2, sort_keys=True).encode()

    @staticmethod
    def peek(data: bytes) -> dict[str, Any]:
        """Parse the plaintext part without a key (NOT authenticated: check the version only)."""
        try:
            document = json.loads(data, object_pairs_hook=_no_duplicates)
        except (ValueError, RecursionError):
            raise FormatError("repository config is not valid JSON") from None
        if not isinstance(document, dict):
            raise FormatError("repository config is not a JSON object")
        version = document.get("version")
        if version != FORMAT_VERSION or isinstance(version, bool):
            shown = version if isinstance(version, int) else "(missing)"
            raise FormatError(
                f"repository format version {str(shown)[:20]} is not supported "
                f"(this keyark reads version {FORMAT_VERSION})",
                hint=Hint.REINIT,
            )
        return document

    @classmethod
    def from_bytes(cls, data: bytes, id_key: bytes, public_key: bytes) -> RepoConfig:
        """Verify the signature with ``public_key`` (raw Ed25519), then parse and bound every field.

        ``public_key`` is the keyring's :attr:`Keyring.config_public_key` for full-key
        holders, or the key pinned in an agent credential. Any failure is a
        :class:`FormatError` naming the config.
        """
        document = cls.peek(data)
        _verify_signature(document, public_key)
        try:
            sealer = Sealer(derive_subkey(id_key, "keyark config"))
            sealed = json.loads(
                sealer.open(
                    ObjectKind.CONFIG, CONFIG_NAME.encode(), bytes.fromhex(document["sealed"])
                )
            )
        except (KeyError, ValueError, TypeError, IntegrityError, RecursionError):
            raise FormatError("repository config: the sealed part cannot be opened") from None
        profile = _typed(document, "profile", str)
        if _BLOB_ID.get(profile) is None or document.get("blob_id") != _BLOB_ID[profile]:
            raise FormatError("repository config: unknown profile or blob id algorithm")
        repo_id = _typed(document, "id", str)
        if len(repo_id) != 64 or not all(c in "0123456789abcdef" for c in repo_id):
            raise FormatError("repository config: id is not 64 hex digits")
        chunker = _typed(document, "chunker", dict)
        if chunker.get("algorithm") != "fastcdc":
            raise FormatError("repository config: unknown chunker algorithm")
        if not isinstance(sealed, dict):
            raise FormatError("repository config: the sealed part is malformed")
        seed = _typed(sealed, "chunker_seed", int)
        if not 0 <= seed < 2**63:
            raise FormatError("repository config: chunker seed out of range")
        params = ChunkerParams(
            _typed(chunker, "min", int),
            _typed(chunker, "avg", int),
            _typed(chunker, "max", int),
            seed,
        )
        pack_size = _typed(document, "pack_size", int)
        _check_sizes(pack_size, params)
        return cls(
            repo_id=repo_id,
            profile=profile,
            pack_size=pack_size,
            chunker=params,
            created=_typed(document, "created", str),
            policies=_typed(sealed, "policies", dict),
            public=_typed(document, "public", dict),
        )

    @property
    def object_lock(self) -> bool:
        """Whether the (authenticated) config records S3 Object Lock."""
        settings = self.public.get("backend_settings")
        return isinstance(settings, dict) and bool(settings.get("s3_object_lock_days"))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(f"duplicate key {key!r}")
        document[key] = value
    return document


def _verify_signature(document: dict[str, Any], public_key: bytes) -> None:
    signature = document.get("signature")
    unsigned = {k: v for k, v in document.items() if k != "signature"}
    if set(unsigned) != _FIELDS or not isinstance(signature, str):
        raise FormatError("repository config: fields are missing or unknown (altered?)")
    try:
        key = ed25519.Ed25519PublicKey.from_public_bytes(public_key)
        key.verify(bytes.fromhex(signature), SIGNATURE_CONTEXT + canonical_json(unsigned))
    except (InvalidSignature, ValueError):
        raise FormatError(
            "repository config: the signature does not verify (altered in storage?); "
            "restore the original config"
        ) from None


def _typed(document: dict[str, Any], name: str, kind: type[_T]) -> _T:
    value = document.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise FormatError(f"repository config: field {name!r} is missing or not a {kind.__name__}")
    return value


def _check_sizes(pack_size: int, chunker: ChunkerParams) -> None:
    if not MIN_PACK_SIZE <= pack_size <= MAX_PACK_SIZE:
        raise FormatError("repository config: pack size must be 1-128 MiB")
    if not MIN_CHUNK <= chunker.min_size < chunker.avg_size < chunker.max_size <= MAX_CHUNK:
        raise FormatError(
            "repository config: chunker sizes must be 64 KiB <= min < avg < max <= 16 MiB"
        )


class BlobHasher:
    """Keyed blob ids: BLAKE3-256 keyed with the id key, or HMAC-SHA256 (FIPS)."""

    def __init__(self, id_key: bytes, profile: str = PROFILE_DEFAULT) -> None:
        self._key = id_key
        self._fips = profile == PROFILE_FIPS

    def __call__(self, data: bytes | memoryview) -> bytes:
        if self._fips:
            return hmac.new(self._key, data, sha256).digest()
        return blake3.blake3(data, key=self._key).digest()
