"""Passphrase key derivation: Argon2id (default) and PBKDF2-HMAC-SHA256 (FIPS-minded)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from keyark.errors import FormatError

ARGON2ID = "argon2id"
PBKDF2_SHA256 = "pbkdf2-sha256"

#: OWASP's recommended Argon2id configuration (19 MiB, t=2, p=1) with one more pass (t=3).
#: Memory is kept at OWASP's figure: every command unlocks once, and the KDF's memory is
#: the largest part of a small command's peak footprint.
ARGON2_TIME_COST = 3
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_PARALLELISM = 1
PBKDF2_ITERATIONS = 600_000


@dataclass(frozen=True)
class KdfParams:
    """Parameters stored in a passphrase slot, everything needed to re-derive its key."""

    name: str
    salt: bytes
    time_cost: int = 0
    memory_kib: int = 0
    parallelism: int = 0
    iterations: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["salt"] = self.salt.hex()
        return {key: value for key, value in data.items() if value not in (0, "")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KdfParams:
        try:
            return cls(
                name=str(data["name"]),
                salt=bytes.fromhex(str(data["salt"])),
                time_cost=int(data.get("time_cost", 0)),
                memory_kib=int(data.get("memory_kib", 0)),
                parallelism=int(data.get("parallelism", 0)),
                iterations=int(data.get("iterations", 0)),
            )
        except (KeyError, ValueError, TypeError) as error:
            raise FormatError(f"key slot has malformed KDF parameters ({error})") from None


def default_params(name: str = ARGON2ID) -> KdfParams:
    """Fresh parameters with a random salt."""
    salt = os.urandom(16)
    if name == ARGON2ID:
        return KdfParams(
            ARGON2ID,
            salt,
            time_cost=ARGON2_TIME_COST,
            memory_kib=ARGON2_MEMORY_KIB,
            parallelism=ARGON2_PARALLELISM,
        )
    if name == PBKDF2_SHA256:
        return KdfParams(PBKDF2_SHA256, salt, iterations=PBKDF2_ITERATIONS)
    raise ValueError(f"unknown KDF {name!r} (use argon2id or pbkdf2)")


def derive(secret: bytes, params: KdfParams) -> bytes:
    """Derive a 32-byte key-encryption key from a passphrase."""
    if params.name == ARGON2ID:
        if params.memory_kib < 19 * 1024 or params.time_cost < 1:
            raise FormatError("key slot's Argon2id parameters are below the safe minimum")
        return hash_secret_raw(
            secret,
            params.salt,
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            hash_len=32,
            type=Type.ID,
        )
    if params.name == PBKDF2_SHA256:
        if params.iterations < 100_000:
            raise FormatError("key slot's PBKDF2 iteration count is below the safe minimum")
        kdf = PBKDF2HMAC(
            algorithm=hashes.SHA256(), length=32, salt=params.salt, iterations=params.iterations
        )
        return kdf.derive(secret)
    raise FormatError(f"key slot uses unknown KDF {params.name!r}")
