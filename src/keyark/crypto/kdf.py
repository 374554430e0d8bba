"""Passphrase key derivation: Argon2id (default) and PBKDF2-HMAC-SHA256 (FIPS-minded).

Defaults (design D5, issue 8 section 9): Argon2id with 64 MiB and a time cost
calibrated on this machine so one derivation takes about 0.4 s (at least t=2),
at least as strong as restic's. Parameters read from a slot are bounded
*before* anything is derived (memory <= 1 GiB, time <= 20, parallelism <= 8;
PBKDF2 <= 10 M iterations): a planted slot cannot make an unlock allocate
without bound or hang; it is a :class:`FormatError` and the slot is skipped.

``KEYARK_TEST_FAST_KDF=1`` (test suites only) makes new slots use OWASP's
minimum instead (19 MiB, t=2), so thousands of test repositories stay fast.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from argon2.exceptions import HashingError
from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from keyark.errors import FormatError

ARGON2ID = "argon2id"
PBKDF2_SHA256 = "pbkdf2-sha256"

#: Default Argon2id memory (restic uses 64 MiB too) and the time a derivation should take.
ARGON2_MEMORY_KIB = 64 * 1024
ARGON2_PARALLELISM = 1
ARGON2_MIN_TIME_COST = 2
TARGET_SECONDS = 0.4
PBKDF2_ITERATIONS = 600_000

#: Bounds checked on parse, before deriving (design D5).
MIN_MEMORY_KIB = 19 * 1024
MAX_MEMORY_KIB = 1024 * 1024
MAX_TIME_COST = 20
MAX_PARALLELISM = 8
MIN_ITERATIONS = 100_000
MAX_ITERATIONS = 10_000_000
SALT_SIZES = range(16, 65)

#: Test suites only: OWASP's minimum Argon2id (19 MiB, t=2) for new slots.
FAST_ENV = "KEYARK_TEST_FAST_KDF"
_FAST_MEMORY_KIB = 19 * 1024

#: The calibrated time cost, measured once per process.
_calibrated: dict[int, int] = {}
_calibration_lock = threading.Lock()


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
        if self.name == ARGON2ID:
            return {
                "name": self.name,
                "salt": self.salt.hex(),
                "time_cost": self.time_cost,
                "memory_kib": self.memory_kib,
                "parallelism": self.parallelism,
            }
        return {"name": self.name, "salt": self.salt.hex(), "iterations": self.iterations}

    @classmethod
    def from_dict(cls, data: object) -> KdfParams:
        """Parse and bound stored parameters; :class:`FormatError` if any is out of range."""
        if not isinstance(data, dict):
            raise FormatError("key slot's KDF parameters are not a map")
        name = data.get("name")
        salt = _salt(data.get("salt"))
        if name == ARGON2ID:
            if set(data) - {"name", "salt", "time_cost", "memory_kib", "parallelism"}:
                raise FormatError("key slot's Argon2id parameters hold unknown fields")
            params = cls(
                ARGON2ID,
                salt,
                time_cost=_bounded(data.get("time_cost"), "time cost", 1, MAX_TIME_COST),
                memory_kib=_bounded(
                    data.get("memory_kib"), "memory", MIN_MEMORY_KIB, MAX_MEMORY_KIB
                ),
                parallelism=_bounded(data.get("parallelism"), "parallelism", 1, MAX_PARALLELISM),
            )
            if params.memory_kib < 8 * params.parallelism:
                raise FormatError("key slot's Argon2id memory is too small for its parallelism")
            return params
        if name == PBKDF2_SHA256:
            if set(data) - {"name", "salt", "iterations"}:
                raise FormatError("key slot's PBKDF2 parameters hold unknown fields")
            iterations = _bounded(
                data.get("iterations"), "iterations", MIN_ITERATIONS, MAX_ITERATIONS
            )
            return cls(PBKDF2_SHA256, salt, iterations=iterations)
        raise FormatError("key slot uses an unknown KDF")

    def check(self) -> None:
        """Raise :class:`FormatError` unless every parameter is within the bounds."""
        KdfParams.from_dict(self.to_dict())

    def is_current(self) -> bool:
        """Whether these parameters are at least today's defaults (``key passwd`` upgrades)."""
        if self.name == PBKDF2_SHA256:
            return self.iterations >= PBKDF2_ITERATIONS
        return (
            self.memory_kib >= _default_memory()
            and self.time_cost >= ARGON2_MIN_TIME_COST
            and self.time_cost * self.memory_kib >= _default_memory() * _time_cost()
        )


def _salt(value: object) -> bytes:
    if not isinstance(value, str):
        raise FormatError("key slot's KDF salt is not a hex string")
    try:
        salt = bytes.fromhex(value)
    except ValueError:
        raise FormatError("key slot's KDF salt is not hex") from None
    if len(salt) not in SALT_SIZES:
        raise FormatError("key slot's KDF salt has a bad length")
    return salt


def _bounded(value: object, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise FormatError(f"key slot's KDF {what} is missing or outside {lo}..{hi}")
    return value


def _fast() -> bool:
    return os.environ.get(FAST_ENV, "") == "1"


def _default_memory() -> int:
    return _FAST_MEMORY_KIB if _fast() else ARGON2_MEMORY_KIB


def _time_cost() -> int:
    """The calibrated Argon2id time cost (measured once per process)."""
    if _fast():
        return ARGON2_MIN_TIME_COST
    with _calibration_lock:
        if ARGON2_MEMORY_KIB not in _calibrated:
            _calibrated[ARGON2_MEMORY_KIB] = calibrate(ARGON2_MEMORY_KIB)
        return _calibrated[ARGON2_MEMORY_KIB]


def calibrate(memory_kib: int, target: float = TARGET_SECONDS) -> int:
    """The time cost that makes one Argon2id derivation take about ``target`` seconds.

    One measured run at t=2 (its allocation overhead makes the estimate err on the
    fast side); the result is at least 2 and at most the parse bound.
    """
    started = time.perf_counter()
    hash_secret_raw(
        b"calibration",
        b"\0" * 16,
        time_cost=ARGON2_MIN_TIME_COST,
        memory_cost=memory_kib,
        parallelism=ARGON2_PARALLELISM,
        hash_len=32,
        type=Type.ID,
    )
    per_pass = max((time.perf_counter() - started) / ARGON2_MIN_TIME_COST, 1e-6)
    return max(ARGON2_MIN_TIME_COST, min(MAX_TIME_COST, round(target / per_pass)))


def default_params(name: str = ARGON2ID) -> KdfParams:
    """Fresh parameters with a random salt (Argon2id: 64 MiB, calibrated time cost)."""
    salt = os.urandom(16)
    if name == ARGON2ID:
        return KdfParams(
            ARGON2ID,
            salt,
            time_cost=_time_cost(),
            memory_kib=_default_memory(),
            parallelism=ARGON2_PARALLELISM,
        )
    if name == PBKDF2_SHA256:
        return KdfParams(PBKDF2_SHA256, salt, iterations=PBKDF2_ITERATIONS)
    raise ValueError(f"unknown KDF {name!r} (use argon2id or pbkdf2)")


def derive(secret: bytes, params: KdfParams) -> bytes:
    """Derive a 32-byte key-encryption key; bounds are checked first (:class:`FormatError`)."""
    params.check()
    if params.name == ARGON2ID:
        try:
            return hash_secret_raw(
                secret,
                params.salt,
                time_cost=params.time_cost,
                memory_cost=params.memory_kib,
                parallelism=params.parallelism,
                hash_len=32,
                type=Type.ID,
            )
        except HashingError:
            raise FormatError("key slot's Argon2id parameters are unusable") from None
    kdf = PBKDF2HMAC(
        algorithm=hashes.SHA256(), length=32, salt=params.salt, iterations=params.iterations
    )
    return kdf.derive(secret)
