"""The fleet registry: enrolled hosts and their run reports (``fleet.db`` in the state
directory, 0600). One small store, so a shared storage interface can take it over."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keyark.state.database import state_database, time_text

FILE_NAME = "fleet.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fleet_agents (
    host TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    enrolled TEXT NOT NULL,
    version TEXT,
    last_report TEXT,
    last_success TEXT,
    revoked TEXT
);
CREATE TABLE IF NOT EXISTS fleet_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    host TEXT NOT NULL,
    received TEXT NOT NULL,
    document TEXT NOT NULL
);
"""


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
        return {
            "host": self.host,
            "agent": self.agent,
            "enrolled": self.enrolled,
            "version": self.version,
            "last_report": self.last_report,
            "last_success": self.last_success,
            "revoked": self.revoked,
        }


class FleetRegistry:
    """Enrolled hosts and their reports in one state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / FILE_NAME

    def enrolled(self, host: str, agent: str) -> None:
        """Record that ``host`` enrolled as ``agent`` now (a re-enrolment starts afresh)."""
        with state_database(self.path, _SCHEMA) as db:
            db.execute(
                "INSERT OR REPLACE INTO fleet_agents (host, agent, enrolled) VALUES (?, ?, ?)",
                (host, agent, time_text(datetime.now(UTC))),
            )

    def report(self, host: str, document: dict[str, Any], *, succeeded: bool) -> None:
        """Store a run report of ``host``."""
        moment = time_text(datetime.now(UTC))
        version = document.get("version")
        with state_database(self.path, _SCHEMA) as db:
            db.execute(
                "INSERT INTO fleet_reports (host, received, document) VALUES (?, ?, ?)",
                (host, moment, json.dumps(document, sort_keys=True)),
            )
            db.execute(
                "UPDATE fleet_agents SET last_report = ?, version = coalesce(?, version), "
                "last_success = CASE WHEN ? THEN ? ELSE last_success END WHERE host = ?",
                (moment, version if isinstance(version, str) else None, succeeded, moment, host),
            )

    def agents(self) -> list[FleetAgent]:
        """Every enrolled host, by name."""
        with state_database(self.path, _SCHEMA) as db:
            rows = db.execute("SELECT * FROM fleet_agents ORDER BY host").fetchall()
        return [
            FleetAgent(
                r["host"], r["agent"], r["enrolled"], r["version"], r["last_report"],
                r["last_success"], r["revoked"],
            )
            for r in rows
        ]  # fmt: skip

    def agent_of(self, host: str) -> str | None:
        """The agent name ``host`` enrolled as (None: not enrolled)."""
        with state_database(self.path, _SCHEMA) as db:
            row = db.execute("SELECT agent FROM fleet_agents WHERE host = ?", (host,)).fetchone()
        return None if row is None else str(row["agent"])

    def revoked(self, host: str) -> None:
        """Record that ``host``'s agent was revoked now."""
        with state_database(self.path, _SCHEMA) as db:
            db.execute(
                "UPDATE fleet_agents SET revoked = ? WHERE host = ?",
                (time_text(datetime.now(UTC)), host),
            )

    def reports(self, host: str) -> list[dict[str, Any]]:
        """The reports of ``host``, oldest first."""
        with state_database(self.path, _SCHEMA) as db:
            rows = db.execute(
                "SELECT document FROM fleet_reports WHERE host = ? ORDER BY id", (host,)
            ).fetchall()
        return [json.loads(row["document"]) for row in rows]


__all__ = ["FILE_NAME", "FleetAgent", "FleetRegistry"]
