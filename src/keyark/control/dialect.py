"""Where SQLite and PostgreSQL differ, in one place.

Stores write their SQL once, for both engines:

- parameters are ``?`` (SQLite's style); :meth:`Dialect.sql` turns them into ``%s`` for
  psycopg (a literal ``?`` or ``%`` inside the SQL text is not allowed);
- schema text may use ``{serial}`` (an auto-numbered ``id`` primary key), ``{float}``
  and ``{bigint}``, which :meth:`Dialect.ddl` fills in;
- upserts are ``INSERT ... ON CONFLICT (key) DO UPDATE SET c = excluded.c`` and new ids
  come back with ``RETURNING id``: the same text on both (SQLite >= 3.35);
- times are stored as ISO 8601 text in UTC (:func:`time_text`), so text order is time
  order on both engines and rows read back the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Dialect:
    """One engine's spelling of the few things that differ."""

    name: str
    placeholder: str
    serial: str
    float_type: str
    bigint: str

    def sql(self, text: str) -> str:
        """``text`` with its ``?`` parameters in this engine's style."""
        if self.placeholder == "?":
            return text
        if "%" in text:
            raise ValueError("SQL text for the control database must not contain '%'")
        return text.replace("?", self.placeholder)

    def ddl(self, text: str) -> str:
        """Schema ``text`` with ``{serial}``, ``{float}`` and ``{bigint}`` filled in."""
        return (
            text.replace("{serial}", self.serial)
            .replace("{float}", self.float_type)
            .replace("{bigint}", self.bigint)
        )


SQLITE = Dialect(
    name="sqlite",
    placeholder="?",
    serial="INTEGER PRIMARY KEY AUTOINCREMENT",
    float_type="REAL",
    bigint="INTEGER",
)
POSTGRESQL = Dialect(
    name="postgresql",
    placeholder="%s",
    serial="BIGSERIAL PRIMARY KEY",
    float_type="DOUBLE PRECISION",
    bigint="BIGINT",
)


def time_text(moment: datetime) -> str:
    """ISO 8601 in UTC (naive times are taken as UTC), so text order is time order."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()
