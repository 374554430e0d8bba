"""Permissions, roles and the permission each catalogue operation needs.

Four roles, each a superset of the one before:

- ``viewer``: health checks, metrics, job status (no file names, no snapshot contents);
- ``auditor``: + snapshot metadata (lists, file names, diffs, inventory, key and agent
  status), the audit log and compliance reports (never file contents);
- ``operator``: + running jobs, checks and verification, restore and dump (file contents);
- ``admin``: + keys, agents, forget/prune, repair, erase, config, server users and tokens.

:data:`OPERATION_PERMISSIONS` names the permission of every operation in
:data:`keyark.ops.CATALOGUE`; ``tests/unit/test_access_permissions.py`` fails when an
operation is missing, so a new operation cannot reach the API unclassified.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Permission(StrEnum):
    """What a request may do; each operation and page needs exactly one."""

    #: Health checks, metrics, alerts and job status.
    HEALTH = "health"
    #: Snapshot lists and trees, file names, diffs, inventory, stats, key and agent status.
    METADATA = "metadata"
    #: The audit log and compliance reports.
    AUDIT = "audit"
    #: Run jobs, checks and verification.
    RUN = "run"
    #: Read file contents: restore, dump, downloads.
    RESTORE = "restore"
    #: Keys, agents, forget/prune, repair, erase, config, server users and tokens.
    ADMIN = "admin"


class Role(StrEnum):
    """A named set of permissions."""

    VIEWER = "viewer"
    AUDITOR = "auditor"
    OPERATOR = "operator"
    ADMIN = "admin"


_VIEWER = frozenset({Permission.HEALTH})
_AUDITOR = _VIEWER | {Permission.METADATA, Permission.AUDIT}
_OPERATOR = _AUDITOR | {Permission.RUN, Permission.RESTORE}

#: Every role's permissions.
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: _VIEWER,
    Role.AUDITOR: _AUDITOR,
    Role.OPERATOR: _OPERATOR,
    Role.ADMIN: frozenset(Permission),
}

#: The permission every catalogue operation needs (by catalogue name).
OPERATION_PERMISSIONS: dict[str, Permission] = {
    # health, metrics, alerts
    "monitor check": Permission.HEALTH,
    "monitor alerts": Permission.HEALTH,
    "metrics": Permission.HEALTH,
    # metadata
    "snapshots": Permission.METADATA,
    "ls": Permission.METADATA,
    "find": Permission.METADATA,
    "diff": Permission.METADATA,
    "stats": Permission.METADATA,
    "inventory": Permission.METADATA,
    "inventory_diff": Permission.METADATA,
    "key list": Permission.METADATA,
    "key status": Permission.METADATA,
    "agent list": Permission.METADATA,
    "catalog rebuild": Permission.METADATA,
    # audit and compliance
    "audit_log": Permission.AUDIT,
    "audit_verify": Permission.AUDIT,
    "audit_export": Permission.AUDIT,
    "compliance report": Permission.AUDIT,
    # running
    "run": Permission.RUN,
    "backup": Permission.RUN,
    "check": Permission.RUN,
    "verify": Permission.RUN,
    "drill": Permission.RUN,
    "monitor test-notify": Permission.RUN,
    # file contents
    "restore": Permission.RESTORE,
    "rollback": Permission.RESTORE,
    "restore-points list": Permission.METADATA,
    "restore-points forget": Permission.ADMIN,
    "dump": Permission.RESTORE,
    "mount": Permission.RESTORE,
    # export returns file contents (the archive); export verify reads no repository
    # (METADATA: it only reads a file the caller names); export key shows a public key
    # (METADATA); import writes snapshots like backup (RUN)
    "export": Permission.RESTORE,
    "export verify": Permission.METADATA,
    "export key": Permission.METADATA,
    "import": Permission.RUN,
    # administration
    "init": Permission.ADMIN,
    "copy": Permission.ADMIN,
    "forget": Permission.ADMIN,
    "prune": Permission.ADMIN,
    "rewrite": Permission.ADMIN,
    "erase": Permission.ADMIN,
    "tag": Permission.ADMIN,
    "unlock": Permission.ADMIN,
    "inventory_build": Permission.ADMIN,
    "backend check": Permission.ADMIN,
    "debug cat": Permission.ADMIN,
    "key add": Permission.ADMIN,
    "key remove": Permission.ADMIN,
    "key passwd": Permission.ADMIN,
    "key split": Permission.ADMIN,
    "key recover": Permission.ADMIN,
    "key rotate": Permission.ADMIN,
    "agent add": Permission.ADMIN,
    "agent revoke": Permission.ADMIN,
    "repair index": Permission.ADMIN,
    "repair packs": Permission.ADMIN,
    "repair snapshots": Permission.ADMIN,
    "repair config": Permission.ADMIN,
    "repair keyring": Permission.ADMIN,
    "server token create": Permission.ADMIN,
    "server token list": Permission.ADMIN,
    "server token revoke": Permission.ADMIN,
    "server user add": Permission.ADMIN,
    "server user list": Permission.ADMIN,
    "server user remove": Permission.ADMIN,
    "server user passwd": Permission.ADMIN,
    "server agent enroll-token": Permission.ADMIN,
    "server agents": Permission.METADATA,
    "server agent revoke": Permission.ADMIN,
    "server agent register": Permission.ADMIN,
}


def permission_for(operation: str) -> Permission:
    """The permission ``operation`` needs; an unclassified operation needs ADMIN."""
    return OPERATION_PERMISSIONS.get(operation, Permission.ADMIN)


def role_allows(role: Role, permission: Permission) -> bool:
    """Whether ``role`` holds ``permission``."""
    return permission in ROLE_PERMISSIONS[role]


@dataclass(frozen=True)
class Principal:
    """Who sends a request: a token, a dashboard user or an LDAP user, with one role.

    ``name`` is what the audit log records as the actor's principal
    (``token:ci``, ``user:alice``, ``ldap:bob``).
    """

    name: str
    role: Role

    def can(self, permission: Permission) -> bool:
        """Whether this principal's role holds ``permission``."""
        return role_allows(self.role, permission)


__all__ = [
    "OPERATION_PERMISSIONS",
    "ROLE_PERMISSIONS",
    "Permission",
    "Principal",
    "Role",
    "permission_for",
    "role_allows",
]
