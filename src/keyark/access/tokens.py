"""API tokens: issued once, stored as an Argon2id hash, selected by a public id.

A token reads ``kya_<id>_<secret>``: ``id`` (16 hex digits) selects the row, ``secret``
(32 random bytes, URL-safe base64) is what only the holder knows. The row keeps the
Argon2id hash of the whole token. The first request of a token pays the slow hash;
after a success the process remembers the token's SHA-256 for that row, so later
requests compare digests in constant time. Every request still reads the row, so a
revoked or expired token is refused at once (401), in every server process.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from keyark.access.hashing import hash_secret, verify_secret
from keyark.access.permissions import Principal, Role
from keyark.access.store import AccessDatabase, now_utc, read_time, stored_time
from keyark.control.database import ControlDatabase
from keyark.errors import AuthenticationError, UnknownResourceError, UsageError

#: What every token starts with (so secret scanners and people recognise one).
TOKEN_PREFIX = "kya_"  # noqa: S105 (a prefix, not a secret)
#: A token's shape: prefix, 16 hex digits of id, 43 URL-safe base64 characters.
_TOKEN = re.compile(r"kya_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
#: Token, user and LDAP names: letters, digits, ``.``, ``_``, ``-``, ``@``.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
#: How often (seconds) a token's ``last_used`` is written at most.
LAST_USED_EVERY = 60.0


def check_pattern(pattern: re.Pattern[str], kind: str, name: str, characters: str) -> str:
    """``name`` if ``pattern`` (a letter or digit, then up to 63 of ``characters``) matches
    all of it; else a UsageError naming the ``kind`` of name and the rule."""
    if not pattern.fullmatch(name):
        raise UsageError(
            f"{kind} name {name!r}: use 1-64 {characters}, starting with a letter or digit"
        )
    return name


def check_name(kind: str, name: str) -> str:
    """``name`` if it is a valid token or user name; else a UsageError."""
    return check_pattern(NAME, kind, name, "letters, digits, '.', '_', '-' or '@'")


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: never the token itself."""

    name: str
    role: Role
    created: datetime
    expires: datetime | None = None
    last_used: datetime | None = None
    revoked: datetime | None = None

    @property
    def principal(self) -> str:
        """The audit log's principal: ``token:<name>``."""
        return f"token:{self.name}"

    def status(self, now: datetime | None = None) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and self.expires <= (now or now_utc()):
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        def text(moment: datetime | None) -> str | None:
            return None if moment is None else moment.isoformat()

        return {
            "name": self.name,
            "role": str(self.role),
            "status": self.status(),
            "created": text(self.created),
            "expires": text(self.expires),
            "last_used": text(self.last_used),
            "revoked": text(self.revoked),
        }


@dataclass(frozen=True)
class IssuedToken:
    """A new token: its listing and the token itself (shown once; never in ``repr``)."""

    info: TokenInfo
    token: str = field(repr=False)


def _info(row: Any) -> TokenInfo:
    return TokenInfo(
        name=row["name"],
        role=Role(row["role"]),
        created=read_time(row["created"]) or now_utc(),
        expires=read_time(row["expires"]),
        last_used=read_time(row["last_used"]),
        revoked=read_time(row["revoked"]),
    )


class TokenStore:
    """The API tokens of one control database (see :mod:`keyark.access.store`)."""

    def __init__(self, state_dir: Path, *, database: ControlDatabase | None = None) -> None:
        """``database``: the control database (default: SQLite in ``state_dir``)."""
        self._db = AccessDatabase(state_dir, database)
        self._lock = threading.Lock()
        #: Token id -> SHA-256 of the token, after one successful Argon2id check.
        self._verified: dict[str, bytes] = {}
        #: Token id -> monotonic-ish time ``last_used`` was last written.
        self._written: dict[str, float] = {}

    def create(self, name: str, role: Role, *, lifetime: timedelta | None = None) -> IssuedToken:
        """Issue token ``name`` with ``role`` (expiring after ``lifetime``, if given)."""
        check_name("token", name)
        if lifetime is not None and lifetime <= timedelta(0):
            raise UsageError("a token's lifetime must be positive")
        token_id = secrets.token_hex(8)
        token = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        created = now_utc()
        expires = None if lifetime is None else created + lifetime
        with self._db.transaction() as db:
            db.lock(f"keyark-token:{name}")
            if db.execute("SELECT 1 FROM tokens WHERE name = ? AND revoked IS NULL", (name,)):
                raise UsageError(f"a token named {name!r} exists; revoke it first")
            db.execute(
                "INSERT INTO tokens (id, name, role, hash, created, expires) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    token_id,
                    name,
                    str(role),
                    hash_secret(token),
                    stored_time(created),
                    stored_time(expires),
                ),
            )
        return IssuedToken(TokenInfo(name, role, created, expires), token)

    def tokens(self, *, include_revoked: bool = False) -> list[TokenInfo]:
        """Every token (the revoked ones too when asked), oldest first."""
        query = "SELECT * FROM tokens"
        if not include_revoked:
            query += " WHERE revoked IS NULL"
        with self._db.transaction() as db:
            rows = db.execute(query + " ORDER BY created, name")
        return [_info(row) for row in rows]

    def revoke(self, name: str) -> TokenInfo:
        """Revoke the live token ``name``: refused from the next request on."""
        moment = now_utc()
        with self._db.transaction() as db:
            rows = db.execute("SELECT * FROM tokens WHERE name = ? AND revoked IS NULL", (name,))
            if not rows:
                raise UnknownResourceError(f"no token named {name!r}")
            row = rows[0]
            db.execute(
                "UPDATE tokens SET revoked = ? WHERE id = ?", (stored_time(moment), row["id"])
            )
        with self._lock:
            self._verified.pop(row["id"], None)
        info = _info(row)
        return TokenInfo(info.name, info.role, info.created, info.expires, info.last_used, moment)

    def authenticate(self, token: str) -> Principal:
        """The principal of ``token``; AuthenticationError when it is malformed, unknown,
        wrong, expired or revoked (one message for all: nothing to probe)."""
        refused = AuthenticationError("the API token is not valid (unknown, expired or revoked)")
        match = _TOKEN.fullmatch(token)
        if match is None:
            raise refused
        token_id = match.group(1)
        with self._db.transaction() as db:
            rows = db.execute("SELECT * FROM tokens WHERE id = ?", (token_id,))
        if not rows or rows[0]["revoked"] is not None:
            raise refused
        row = rows[0]
        info = _info(row)
        moment = now_utc()
        if info.expires is not None and info.expires <= moment:
            raise refused
        if not self._matches(token_id, row["hash"], token):
            raise refused
        self._touch(token_id, moment)
        return Principal(info.principal, info.role)

    def _matches(self, token_id: str, encoded: str, token: str) -> bool:
        digest = hashlib.sha256(token.encode()).digest()
        with self._lock:
            known = self._verified.get(token_id)
        if known is not None:
            return hmac.compare_digest(known, digest)
        if not verify_secret(encoded, token):
            return False
        with self._lock:
            self._verified[token_id] = digest
        return True

    def _touch(self, token_id: str, moment: datetime) -> None:
        stamp = moment.timestamp()
        with self._lock:
            if stamp - self._written.get(token_id, 0.0) < LAST_USED_EVERY:
                return
            self._written[token_id] = stamp
        with self._db.transaction() as db:
            db.execute(
                "UPDATE tokens SET last_used = ? WHERE id = ?", (stored_time(moment), token_id)
            )


__all__ = [
    "NAME",
    "TOKEN_PREFIX",
    "IssuedToken",
    "TokenInfo",
    "TokenStore",
    "check_name",
    "check_pattern",
]
