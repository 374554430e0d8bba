"""Dashboard sessions, kept on the server: an opaque id (the cookie), the principal, the
CSRF token and the expiry.

The database keeps the SHA-256 of each id, not the id, so a copy of the database opens
no session. A session ends at its expiry, at logout, or when its user is removed or
gets a new password.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from keyark.access.permissions import Principal, Role
from keyark.access.store import AccessDatabase, now_utc, read_time, stored_time
from keyark.control.database import ControlDatabase

#: Default session lifetime.
DEFAULT_LIFETIME = timedelta(hours=8)


@dataclass(frozen=True)
class StoredSession:
    """A live session: principal, id and CSRF token (never in ``repr``), expiry."""

    principal: Principal
    session_id: str = field(repr=False)
    csrf_token: str = field(repr=False)
    expires: datetime


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    """The sessions of one control database (see :mod:`keyark.access.store`)."""

    def __init__(
        self,
        state_dir: Path,
        lifetime: timedelta = DEFAULT_LIFETIME,
        *,
        database: ControlDatabase | None = None,
    ) -> None:
        """``database``: the control database (default: SQLite in ``state_dir``)."""
        self._db = AccessDatabase(state_dir, database)
        self.lifetime = lifetime

    def create(self, principal: Principal) -> StoredSession:
        """A new session of ``principal`` (fresh random id and CSRF token)."""
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        created = now_utc()
        expires = created + self.lifetime
        with self._db.transaction() as db:
            db.execute("DELETE FROM sessions WHERE expires <= ?", (stored_time(created),))
            db.execute(
                "INSERT INTO sessions (id_hash, principal, role, csrf, created, expires) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    _digest(session_id),
                    principal.name,
                    str(principal.role),
                    csrf,
                    stored_time(created),
                    stored_time(expires),
                ),
            )
        return StoredSession(principal, session_id, csrf, expires)

    def lookup(self, session_id: str) -> StoredSession | None:
        """The live session of ``session_id``, or None (unknown or expired)."""
        with self._db.transaction() as db:
            rows = db.execute("SELECT * FROM sessions WHERE id_hash = ?", (_digest(session_id),))
        if not rows:
            return None
        row = rows[0]
        expires = read_time(row["expires"])
        if expires is None or expires <= now_utc():
            self.end(session_id)
            return None
        principal = Principal(row["principal"], Role(row["role"]))
        return StoredSession(principal, session_id, row["csrf"], expires)

    def end(self, session_id: str) -> None:
        """Forget the session (logout)."""
        with self._db.transaction() as db:
            db.execute("DELETE FROM sessions WHERE id_hash = ?", (_digest(session_id),))

    def end_all(self, principal: str) -> int:
        """End every session of ``principal``; how many."""
        with self._db.transaction() as db:
            ended = db.execute(
                "DELETE FROM sessions WHERE principal = ? RETURNING id_hash", (principal,)
            )
        return len(ended)


__all__ = ["DEFAULT_LIFETIME", "SessionStore", "StoredSession"]
