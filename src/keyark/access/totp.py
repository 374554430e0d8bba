"""Time-based one-time passwords (RFC 6238, pyotp): 30-second steps, six digits, SHA-1
(what every authenticator app reads from an ``otpauth://`` URI).

A code is accepted for the current step and one step either side (clock drift), and
only once: the caller keeps the last step used and passes it back, so a code seen
over a shoulder or in a log cannot be replayed.
"""

from __future__ import annotations

import hmac
import time

import pyotp

#: The issuer shown in authenticator apps.
ISSUER = "keyark"
#: Steps accepted either side of the current one.
DRIFT_STEPS = 1


def new_secret() -> str:
    """A new random TOTP secret (base32, 160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app scans (holds the secret)."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=ISSUER)


def code_at(secret: str, moment: float | None = None) -> str:
    """The code for ``moment`` (default: now); for tests and enrolment checks."""
    return pyotp.TOTP(secret).at(time.time() if moment is None else moment)


def accepted_step(
    secret: str, code: str, last_step: int | None, moment: float | None = None
) -> int | None:
    """The time step ``code`` belongs to (within the drift window, later than
    ``last_step``), or None when it is wrong or replayed."""
    totp = pyotp.TOTP(secret)
    now = time.time() if moment is None else moment
    current = totp.timecode(now)
    candidate = code.strip()
    found: int | None = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        expected = totp.generate_otp(step)
        if hmac.compare_digest(expected, candidate) and (last_step is None or step > last_step):
            found = step
    return found


__all__ = ["DRIFT_STEPS", "ISSUER", "accepted_step", "code_at", "new_secret", "provisioning_uri"]
