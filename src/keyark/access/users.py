"""Dashboard users: a role, an Argon2id password hash and an optional TOTP secret.

Passwords reach this module as values (the faces read them from a prompt, a file or
the environment, never from argv) and leave it only as hashes. A login checks the
password first, then the TOTP code (each code once); every failure raises the same
:class:`~keyark.errors.AuthenticationError` so a caller learns nothing about which part
was wrong or whether the user exists.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from keyark.access import totp
from keyark.access.hashing import hash_secret, verify_secret, verify_unknown
from keyark.access.permissions import Principal, Role
from keyark.access.store import AccessDatabase, now_utc, read_time, stored_time
from keyark.access.tokens import check_name
from keyark.control.database import ControlDatabase, Row
from keyark.errors import AuthenticationError, UnknownResourceError, UsageError

#: The shortest password accepted.
MIN_PASSWORD = 8


@dataclass(frozen=True)
class UserInfo:
    """A user as listed: never the hash or the TOTP secret."""

    name: str
    role: Role
    totp: bool
    created: datetime

    @property
    def principal(self) -> str:
        """The audit log's principal: ``user:<name>``."""
        return f"user:{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": str(self.role),
            "totp": self.totp,
            "created": self.created.isoformat(),
        }


@dataclass(frozen=True)
class NewUser:
    """A user just added, and (with TOTP) the enrolment URI, shown once; never in ``repr``."""

    info: UserInfo
    totp_uri: str | None = field(default=None, repr=False)


def check_password(password: str) -> str:
    """``password`` if it is long enough; else a UsageError."""
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"a password needs at least {MIN_PASSWORD} characters")
    return password


def _one(rows: list[Row], name: str) -> Row:
    """The row of user ``name``; UnknownResourceError when there is none."""
    if not rows:
        raise UnknownResourceError(f"no user named {name!r}")
    return rows[0]


def _info(row: Any) -> UserInfo:
    created = read_time(row["created"]) or now_utc()
    return UserInfo(row["name"], Role(row["role"]), row["totp_secret"] is not None, created)


class UserStore:
    """The dashboard users of one control database (see :mod:`keyark.access.store`)."""

    def __init__(self, state_dir: Path, *, database: ControlDatabase | None = None) -> None:
        """``database``: the control database (default: SQLite in ``state_dir``)."""
        self._db = AccessDatabase(state_dir, database)
        #: One login of a TOTP user at a time, so a code's step is used once.
        self._totp_lock = threading.Lock()

    def add(self, name: str, role: Role, password: str, *, with_totp: bool = False) -> NewUser:
        """Add user ``name``; with ``with_totp`` also a TOTP secret (its URI returned once)."""
        check_name("user", name)
        check_password(password)
        secret = totp.new_secret() if with_totp else None
        created = now_utc()
        with self._db.transaction() as db:
            db.lock(f"keyark-user:{name}")
            if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)):
                raise UsageError(f"a user named {name!r} exists")
            db.execute(
                "INSERT INTO users (name, role, hash, totp_secret, created) VALUES (?, ?, ?, ?, ?)",
                (name, str(role), hash_secret(password), secret, stored_time(created)),
            )
        uri = None if secret is None else totp.provisioning_uri(secret, name)
        return NewUser(UserInfo(name, role, secret is not None, created), uri)

    def users(self) -> list[UserInfo]:
        """Every user, by name."""
        with self._db.transaction() as db:
            rows = db.execute("SELECT * FROM users ORDER BY name")
        return [_info(row) for row in rows]

    def remove(self, name: str) -> UserInfo:
        """Remove user ``name`` and end its sessions."""
        with self._db.transaction() as db:
            row = _one(db.execute("SELECT * FROM users WHERE name = ?", (name,)), name)
            db.execute("DELETE FROM users WHERE name = ?", (name,))
            db.execute("DELETE FROM sessions WHERE principal = ?", (f"user:{name}",))
        return _info(row)

    def set_password(self, name: str, password: str) -> UserInfo:
        """Give user ``name`` a new password and end its sessions."""
        check_password(password)
        with self._db.transaction() as db:
            row = _one(db.execute("SELECT * FROM users WHERE name = ?", (name,)), name)
            db.execute("UPDATE users SET hash = ? WHERE name = ?", (hash_secret(password), name))
            db.execute("DELETE FROM sessions WHERE principal = ?", (f"user:{name}",))
        return _info(row)

    def totp_secret(self, name: str) -> str | None:
        """User ``name``'s TOTP secret (None: none or no such user); for enrolment checks."""
        with self._db.transaction() as db:
            rows = db.execute("SELECT totp_secret FROM users WHERE name = ?", (name,))
        return rows[0]["totp_secret"] if rows else None

    def known(self, name: str) -> bool:
        """Whether a local user ``name`` exists."""
        with self._db.transaction() as db:
            return bool(db.execute("SELECT 1 FROM users WHERE name = ?", (name,)))

    def verify(self, name: str, password: str, code: str | None = None) -> Principal:
        """The principal of user ``name`` when ``password`` (and, for a TOTP user, ``code``)
        is right; else AuthenticationError."""
        refused = AuthenticationError("wrong user name, password or one-time code")
        with self._db.transaction() as db:
            rows = db.execute("SELECT * FROM users WHERE name = ?", (name,))
        if not rows:
            verify_unknown(password)
            raise refused
        row = rows[0]
        if not verify_secret(row["hash"], password):
            raise refused
        if row["totp_secret"] is not None:
            self._spend_code(name, row["totp_secret"], code, refused)
        return Principal(f"user:{name}", Role(row["role"]))

    def _spend_code(
        self, name: str, secret: str, code: str | None, refused: AuthenticationError
    ) -> None:
        if not code:
            raise refused
        with self._totp_lock, self._db.transaction() as db:
            db.lock(f"keyark-totp:{name}")  # one login per code across servers too
            rows = db.execute("SELECT totp_last_step FROM users WHERE name = ?", (name,))
            last = rows[0]["totp_last_step"] if rows else None
            step = totp.accepted_step(secret, code, last)
            if step is None:
                raise refused
            db.execute("UPDATE users SET totp_last_step = ? WHERE name = ?", (step, name))


__all__ = ["MIN_PASSWORD", "NewUser", "UserInfo", "UserStore", "check_password"]
