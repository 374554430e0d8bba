"""The repository ``config`` object: plaintext parameters plus a sealed part.

The plaintext part tells any tool what it is looking at (format version, id,
profile, sizes). The sealed part, keyed from the id key (which write-only agents
hold too), carries the chunker seed and policies that should not be public.
"""

from __future__ import annotations

import hmac
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any

import blake3
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keyark.chunker import ChunkerParams
from keyark.crypto.envelope import KEY_ID_SIZE, ObjectKind, Sealer, SymmetricKey
from keyark.errors import FormatError

FORMAT_VERSION = 1
CONFIG_NAME = "config"
DEFAULT_PACK_SIZE = 16 * 1024 * 1024
PROFILE_DEFAULT = "default"
PROFILE_FIPS = "fips"


def derive_subkey(id_key: bytes, purpose: str) -> SymmetricKey:
    """A key for repository-wide metadata (config, locks) derived from the id key."""
    material = HKDF(
        algorithm=hashes.SHA256(), length=32 + KEY_ID_SIZE, salt=None, info=purpose.encode()
    ).derive(id_key)
    return SymmetricKey(material[32:], material[:32])


@dataclass
class RepoConfig:
    """Parsed ``config``."""

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

    def to_bytes(self, id_key: bytes) -> bytes:
        sealed = {"chunker_seed": self.chunker.seed, "policies": self.policies}
        sealer = Sealer(derive_subkey(id_key, "keyark config"))
        document = {
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
            "blob_id": "hmac-sha256" if self.profile == PROFILE_FIPS else "blake3-keyed",
            "public": self.public,
            "sealed": sealer.seal(
                ObjectKind.CONFIG, CONFIG_NAME.encode(), json.dumps(sealed).encode()
            ).hex(),
        }
        return json.dumps(document, indent=2, sort_keys=True).encode()

    @staticmethod
    def peek(data: bytes) -> dict[str, Any]:
        """Parse the plaintext part without a key."""
        try:
            document: dict[str, Any] = json.loads(data)
        except ValueError:
            raise FormatError("repository config is not valid JSON") from None
        if document.get("version") != FORMAT_VERSION:
            raise FormatError(
                f"repository format version {document.get('version')!r} is not supported "
                f"(this keyark reads version {FORMAT_VERSION})"
            )
        return document

    @classmethod
    def from_bytes(cls, data: bytes, id_key: bytes) -> RepoConfig:
        document = cls.peek(data)
        try:
            sealer = Sealer(derive_subkey(id_key, "keyark config"))
            sealed = json.loads(
                sealer.open(
                    ObjectKind.CONFIG, CONFIG_NAME.encode(), bytes.fromhex(document["sealed"])
                )
            )
            chunker = document["chunker"]
            return cls(
                repo_id=document["id"],
                profile=document.get("profile", PROFILE_DEFAULT),
                pack_size=int(document["pack_size"]),
                chunker=ChunkerParams(
                    int(chunker["min"]),
                    int(chunker["avg"]),
                    int(chunker["max"]),
                    int(sealed["chunker_seed"]),
                ),
                created=document.get("created", ""),
                policies=dict(sealed.get("policies", {})),
                public=dict(document.get("public", {})),
            )
        except (KeyError, ValueError, TypeError) as error:
            raise FormatError(f"repository config is malformed ({error})") from None


class BlobHasher:
    """Keyed blob ids: BLAKE3-256 keyed with the id key, or HMAC-SHA256 (FIPS)."""

    def __init__(self, id_key: bytes, profile: str = PROFILE_DEFAULT) -> None:
        self._key = id_key
        self._fips = profile == PROFILE_FIPS

    def __call__(self, data: bytes | memoryview) -> bytes:
        if self._fips:
            return hmac.new(self._key, data, sha256).digest()
        return blake3.blake3(data, key=self._key).digest()
