"""Agent enrolment tokens and agent report tokens, in the server's control database
(tables ``enrolment_tokens`` and ``agent_report_tokens`` of :mod:`keyark.access.store`).

An enrolment token reads ``kye_<id>_<secret>``; it names the host it enrols, expires
(default: one hour) and works once: :meth:`EnrolmentStore.redeem` marks it used in the
same transaction that reads it, so two racing redemptions cannot both succeed. A report
token (``kyr_<id>_<secret>``) is issued at enrolment; an agent sends it with its run
reports. Both are stored as Argon2id hashes (:mod:`keyark.access.hashing`), selected by
their public id, like API tokens (:mod:`keyark.access.tokens`).
"""

from __future__ import annotations

import re
import secrets
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from keyark.access.hashing import hash_secret, verify_secret
from keyark.access.store import AccessDatabase, now_utc, read_time, stored_time
from keyark.access.tokens import check_pattern
from keyark.control.database import ControlDatabase, Transaction
from keyark.errors import AuthenticationError, UsageError

ENROL_PREFIX = "kye_"
REPORT_PREFIX = "kyr_"
#: How long an enrolment token lives unless told otherwise.
DEFAULT_LIFETIME = timedelta(hours=1)
_ENROL = re.compile(r"kye_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
_REPORT = re.compile(r"kyr_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
#: Host names an agent may be enrolled for (the agent name rules of keyark.crypto.agents).
HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_host(host: str) -> str:
    """``host`` if it is a valid host name to enrol; else a UsageError."""
    return check_pattern(HOST, "host", host, "letters, digits, '.', '_' or '-'")


@dataclass(frozen=True)
class EnrolmentInfo:
    """An enrolment token as listed: never the token itself."""

    host: str
    created: datetime
    expires: datetime
    used: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "created": self.created.isoformat(),
            "expires": self.expires.isoformat(),
            "used": None if self.used is None else self.used.isoformat(),
        }


@dataclass(frozen=True)
class IssuedEnrolment:
    """A new enrolment token (shown once; never in ``repr``)."""

    info: EnrolmentInfo
    token: str = field(repr=False)


def _new_token(prefix: str) -> tuple[str, str]:
    token_id = secrets.token_hex(8)
    return token_id, f"{prefix}{token_id}_{secrets.token_urlsafe(32)}"


class EnrolmentStore:
    """The enrolment and report tokens of one control database (several servers share
    it: a token issued through one is redeemed once, through any)."""

    def __init__(self, state_dir: Path, *, database: ControlDatabase | None = None) -> None:
        """``database``: the control database (default: SQLite in ``state_dir``)."""
        self._db = AccessDatabase(state_dir, database)

    def _connect(self) -> AbstractContextManager[Transaction]:
        return self._db.transaction()

    def create(self, host: str, lifetime: timedelta | None = None) -> IssuedEnrolment:
        """Issue a one-time enrolment token for ``host``, expiring after ``lifetime``."""
        check_host(host)
        lifetime = DEFAULT_LIFETIME if lifetime is None else lifetime
        if lifetime <= timedelta(0):
            raise UsageError("an enrolment token's lifetime must be positive")
        token_id, token = _new_token(ENROL_PREFIX)
        created = now_utc()
        expires = created + lifetime
        with self._connect() as db:
            db.execute(
                "INSERT INTO enrolment_tokens (id, host, hash, created, expires) "
                "VALUES (?, ?, ?, ?, ?)",
                (token_id, host, hash_secret(token), stored_time(created), stored_time(expires)),
            )
        return IssuedEnrolment(EnrolmentInfo(host, created, expires), token)

    def redeem(self, token: str) -> str:
        """The host ``token`` enrols, marking it used; AuthenticationError when it is
        malformed, unknown, wrong, expired or used already (one message for all)."""
        refused = AuthenticationError("the enrolment token is not valid (unknown, expired or used)")
        match = _ENROL.fullmatch(token)
        if match is None:
            raise refused
        token_id = match.group(1)
        moment = now_utc()
        with self._connect() as db:
            rows = db.execute("SELECT * FROM enrolment_tokens WHERE id = ?", (token_id,))
            if not rows or rows[0]["used"] is not None:
                raise refused
            row = rows[0]
            expires = read_time(row["expires"])
            if expires is None or expires <= moment or not verify_secret(row["hash"], token):
                raise refused
            claimed = db.execute(
                "UPDATE enrolment_tokens SET used = ? WHERE id = ? AND used IS NULL RETURNING id",
                (stored_time(moment), token_id),
            )
            if len(claimed) != 1:
                raise refused
        return str(row["host"])

    def release(self, token: str) -> None:
        """Make a redeemed ``token`` usable again (its enrolment failed before any effect)."""
        match = _ENROL.fullmatch(token)
        if match is None:
            return
        with self._connect() as db:
            db.execute("UPDATE enrolment_tokens SET used = NULL WHERE id = ?", (match.group(1),))

    def issue_report_token(self, host: str) -> str:
        """A new report token for ``host`` (the host's earlier ones are revoked)."""
        check_host(host)
        token_id, token = _new_token(REPORT_PREFIX)
        moment = stored_time(now_utc())
        with self._connect() as db:
            db.execute(
                "UPDATE agent_report_tokens SET revoked = ? WHERE host = ? AND revoked IS NULL",
                (moment, host),
            )
            db.execute(
                "INSERT INTO agent_report_tokens (id, host, hash, created) VALUES (?, ?, ?, ?)",
                (token_id, host, hash_secret(token), moment),
            )
        return token

    def report_host(self, token: str) -> str:
        """The host a report token belongs to; AuthenticationError when it is not valid."""
        refused = AuthenticationError("the agent's report token is not valid")
        match = _REPORT.fullmatch(token)
        if match is None:
            raise refused
        with self._connect() as db:
            rows = db.execute("SELECT * FROM agent_report_tokens WHERE id = ?", (match.group(1),))
        if not rows or rows[0]["revoked"] is not None or not verify_secret(rows[0]["hash"], token):
            raise refused
        return str(rows[0]["host"])

    def revoke_reports(self, host: str) -> None:
        """Revoke every report token of ``host``."""
        with self._connect() as db:
            db.execute(
                "UPDATE agent_report_tokens SET revoked = ? WHERE host = ? AND revoked IS NULL",
                (stored_time(now_utc()), host),
            )


__all__ = [
    "DEFAULT_LIFETIME",
    "ENROL_PREFIX",
    "REPORT_PREFIX",
    "EnrolmentInfo",
    "EnrolmentStore",
    "IssuedEnrolment",
    "check_host",
]
