"""The data of the record pages: alerts, the audit log, the compliance report, keys
(slots, age and rotation) and agents."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keyark import ops
from keyark.errors import UsageError
from keyark.server.dashboard.snapshots import repository_choice, repository_picker

if TYPE_CHECKING:
    from keyark.access.permissions import Principal
    from keyark.server.state import ServerState

#: How many records the alert and audit pages list (the newest).
PAGE_RECORDS = 200
#: The alert levels the alert page filters by.
ALERT_LEVELS: tuple[str, ...] = ("info", "warning", "critical")


def alerts(state: ServerState, principal: Principal, level: str | None) -> dict[str, Any]:
    """The alerts page: the newest alerts, at least ``level`` when given."""
    if level and level not in ALERT_LEVELS:
        raise UsageError(f"unknown level {level!r}: use one of {', '.join(ALERT_LEVELS)}")
    options = ops.MonitorAlertsOptions(
        config=state.config,
        level=ops.Level[level.upper()] if level else None,
        limit=PAGE_RECORDS,
        state_dir=state.runs.directory,
    )
    history = state.run(principal, "monitor alerts", options).to_dict()
    return {
        "title": "Alerts",
        "alerts": sorted(history["alerts"], key=lambda alert: alert["time"], reverse=True),
        "level": level or "",
        "levels": ALERT_LEVELS,
    }


def audit(
    state: ServerState,
    principal: Principal,
    repository: str | None,
    *,
    actor: str | None = None,
    operation: str | None = None,
) -> dict[str, Any]:
    """The audit log page: the newest records, of an actor or an operation when given."""
    options = ops.AuditLogOptions(
        actor=actor or None, operation=operation or None, limit=PAGE_RECORDS
    )
    result = state.run(
        principal, "audit_log", options, repository_choice(state, repository)
    ).to_dict()
    return {
        "title": "Audit log",
        "records": list(reversed(result["records"])),
        "actor": actor or "",
        "operation": operation or "",
        **repository_picker(state, repository),
    }


def compliance(
    state: ServerState, principal: Principal, repository: str | None, standard: str | None
) -> dict[str, Any]:
    """The compliance page: the report of a standard (all of them by default)."""
    options = ops.ComplianceOptions(
        standard=standard or "all", config=state.config, state_dir=state.runs.directory
    )
    report = state.run(
        principal, "compliance report", options, repository_choice(state, repository)
    ).to_dict()
    return {
        "title": "Compliance",
        "report": report,
        "standard": standard or "all",
        "standards": ops.STANDARDS,
        **repository_picker(state, repository),
    }


def keys(state: ServerState, principal: Principal, repository: str | None) -> dict[str, Any]:
    """The keys page: key slots, the data keys' ages and whether rotation is due."""
    name = repository_choice(state, repository)
    slots = state.run(principal, "key list", ops.KeyListOptions(), name).to_dict()
    status = state.run(principal, "key status", ops.KeyStatusOptions(), name).to_dict()
    return {
        "title": "Keys",
        "slots": slots["keys"],
        "status": status,
        **repository_picker(state, repository),
    }


def agents(state: ServerState, principal: Principal, repository: str | None) -> dict[str, Any]:
    """The agents page: every registered agent, revoked ones included."""
    name = repository_choice(state, repository)
    result = state.run(principal, "agent list", ops.AgentListOptions(), name).to_dict()
    return {
        "title": "Agents",
        "agents": result["agents"],
        **repository_picker(state, repository),
    }


__all__ = ["ALERT_LEVELS", "agents", "alerts", "audit", "compliance", "keys"]
