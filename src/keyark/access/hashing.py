"""Slow, salted hashes of the server's secrets (API tokens, user passwords): Argon2id.

argon2-cffi's :class:`~argon2.PasswordHasher` with OWASP's recommended parameters
(19 MiB, two passes, one lane: about 20 ms here), encoded with its parameters and salt, so
a hash made today verifies after the defaults change. Verification is constant-time in
the library; a malformed hash counts as a mismatch.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

#: Argon2id memory cost (KiB), passes and lanes: OWASP's Password Storage Cheat Sheet.
MEMORY_KIB = 19 * 1024
PASSES = 2
LANES = 1


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=PASSES, memory_cost=MEMORY_KIB, parallelism=LANES)


def hash_secret(secret: str) -> str:
    """The Argon2id hash of ``secret`` (PHC string: ``$argon2id$v=19$m=...``), fresh salt."""
    return _hasher().hash(secret)


def verify_secret(encoded: str, secret: str) -> bool:
    """Whether ``secret`` matches the hash ``encoded`` (False for a malformed hash)."""
    try:
        return _hasher().verify(encoded, secret)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


#: A hash no secret matches, verified for an unknown name so a login takes as long.
_DUMMY: list[str] = []


def verify_unknown(secret: str) -> bool:
    """Spend a verification's time for a name that has no hash (timing parity); False."""
    if not _DUMMY:
        _DUMMY.append(hash_secret("keyark-no-such-user"))
    verify_secret(_DUMMY[0], secret)
    return False


__all__ = ["LANES", "MEMORY_KIB", "PASSES", "hash_secret", "verify_secret", "verify_unknown"]
