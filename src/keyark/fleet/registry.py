"""The fleet registry: enrolled hosts and their run reports, in the control database
(:mod:`keyark.control`): SQLite ``state.db`` in the state directory by default, or the
PostgreSQL database several servers share, so every server lists the same fleet.

A former ``fleet.db`` of the state directory is imported once (:mod:`keyark.control.legacy`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keyark.control.component import FILE_NAME, ComponentTables
from keyark.control.database import ControlDatabase
from keyark.control.dialect import time_text
from keyark.control.legacy import LegacyTable

#: Where the registry lived before the control database (imported once).
LEGACY_FILE_NAME = "fleet.db"

#: The registry's schema versions (append only).
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE IF NOT EXISTS fleet_agents (
            host TEXT PRIMARY KEY,
            agent TEXT NOT NULL,
            enrolled TEXT NOT NULL,
            version TEXT,
            last_report TEXT,
            last_success TEXT,
            revoked TEXT
        )""",
        """CREATE TABLE IF NOT EXISTS fleet_reports (
            id {serial},
            host TEXT NOT NULL,
            received TEXT NOT NULL,
            document TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS fleet_reports_host ON fleet_reports (host, id)",
    ),
    (
        # Which run a report tells of (job and start): an agent that lost the server's
        # answer sends the report again, and the second copy is not stored.
        "ALTER TABLE fleet_reports ADD COLUMN run_key TEXT",
        "CREATE UNIQUE INDEX IF NOT EXISTS fleet_reports_run ON fleet_reports (host, run_key)",
    ),
)

_LEGACY_TABLES = (
    LegacyTable(
        "fleet_agents",
        ("host", "agent", "enrolled", "version", "last_report", "last_success", "revoked"),
    ),
    LegacyTable("fleet_reports", ("host", "received", "document"), keyed=False),
)

_ENROLLED = (
    "INSERT INTO fleet_agents (host, agent, enrolled) VALUES (?, ?, ?)"
    " ON CONFLICT (host) DO UPDATE SET agent = excluded.agent, enrolled = excluded.enrolled,"
    " version = NULL, last_report = NULL, last_success = NULL, revoked = NULL"
)


@dataclass(frozen=True)
class FleetAgent:
    """An enrolled host as ``server agents`` lists it."""

    host: str
    agent: str
    enrolled: str
    version: str | None = None
    last_report: str | None = None
    last_success: str | None = None
    revoked: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _now() -> str:
    return time_text(datetime.now(UTC))


class FleetRegistry:
    """Enrolled hosts and their reports in one control database."""

    def __init__(self, state_dir: Path, *, database: ControlDatabase | None = None) -> None:
        """``database``: the control database (default: SQLite ``state.db`` in ``state_dir``)."""
        self._tables = ComponentTables(
            state_dir, database, "fleet", MIGRATIONS, (LEGACY_FILE_NAME, _LEGACY_TABLES)
        )
        self.database = self._tables.database

    def enrolled(self, host: str, agent: str) -> None:
        """Record that ``host`` enrolled as ``agent`` now (a re-enrolment starts afresh)."""
        with self._tables.transaction() as db:
            db.execute(_ENROLLED, (host, agent, _now()))

    def report(
        self, host: str, document: dict[str, Any], *, succeeded: bool, run_key: str | None = None
    ) -> bool:
        """Store a run report of ``host``; whether it was stored now.

        ``run_key`` names the run the report tells of: a report of a run ``host`` already
        reported is not stored again (False), so an agent may resend a report whose answer
        it lost. Without a key every report is stored.
        """
        moment = _now()
        version = document.get("version")
        version = version if isinstance(version, str) else None
        with self._tables.transaction() as db:
            stored = db.execute(
                "INSERT INTO fleet_reports (host, received, document, run_key)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (host, run_key) DO NOTHING RETURNING id",
                (host, moment, json.dumps(document, sort_keys=True), run_key),
            )
            if not stored:
                return False
            db.execute(
                "UPDATE fleet_agents SET last_report = ?, version = COALESCE(?, version),"
                " last_success = CASE WHEN ? = 1 THEN ? ELSE last_success END WHERE host = ?",
                (moment, version, int(succeeded), moment, host),
            )
        return True

    def has_report(self, host: str, run_key: str) -> bool:
        """Whether ``host`` already reported the run ``run_key`` names."""
        with self._tables.transaction() as db:
            rows = db.execute(
                "SELECT 1 FROM fleet_reports WHERE host = ? AND run_key = ?", (host, run_key)
            )
        return bool(rows)

    def agents(self) -> list[FleetAgent]:
        """Every enrolled host, by name."""
        with self._tables.transaction() as db:
            rows = db.execute("SELECT * FROM fleet_agents ORDER BY host")
        return [
            FleetAgent(
                r["host"], r["agent"], r["enrolled"], r["version"], r["last_report"],
                r["last_success"], r["revoked"],
            )
            for r in rows
        ]  # fmt: skip

    def agent_of(self, host: str) -> str | None:
        """The agent name ``host`` enrolled as (None: not enrolled)."""
        with self._tables.transaction() as db:
            rows = db.execute("SELECT agent FROM fleet_agents WHERE host = ?", (host,))
        return str(rows[0]["agent"]) if rows else None

    def revoked(self, host: str) -> None:
        """Record that ``host``'s agent was revoked now."""
        with self._tables.transaction() as db:
            db.execute("UPDATE fleet_agents SET revoked = ? WHERE host = ?", (_now(), host))

    def reports(self, host: str) -> list[dict[str, Any]]:
        """The reports of ``host``, oldest first."""
        with self._tables.transaction() as db:
            rows = db.execute(
                "SELECT document FROM fleet_reports WHERE host = ? ORDER BY id", (host,)
            )
        return [json.loads(row["document"]) for row in rows]


__all__ = ["FILE_NAME", "LEGACY_FILE_NAME", "MIGRATIONS", "FleetAgent", "FleetRegistry"]
