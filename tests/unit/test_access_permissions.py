"""Every catalogue operation has a permission, and the roles nest."""

from __future__ import annotations

import itertools

from keyark import ops
from keyark.access.permissions import (
    OPERATION_PERMISSIONS,
    ROLE_PERMISSIONS,
    Permission,
    Principal,
    Role,
    permission_for,
)


def test_every_catalogue_operation_is_classified() -> None:
    missing = sorted(set(ops.CATALOGUE) - set(OPERATION_PERMISSIONS))
    assert not missing, f"operations without a permission: {missing}"
    stale = sorted(set(OPERATION_PERMISSIONS) - set(ops.CATALOGUE))
    assert not stale, f"permissions for operations that do not exist: {stale}"


def test_secret_content_needs_restore_or_admin() -> None:
    for name, entry in ops.CATALOGUE.items():
        if entry.reads_secrets:
            assert permission_for(name) in {Permission.RESTORE, Permission.ADMIN}, name


def test_roles_nest_and_only_admin_administers() -> None:
    order = [Role.VIEWER, Role.AUDITOR, Role.OPERATOR, Role.ADMIN]
    for lower, higher in itertools.pairwise(order):
        assert ROLE_PERMISSIONS[lower] < ROLE_PERMISSIONS[higher]
    assert [r for r in Role if Principal("x", r).can(Permission.ADMIN)] == [Role.ADMIN]
    assert not Principal("v", Role.VIEWER).can(Permission.METADATA)  # positive control


def test_unknown_operation_needs_admin() -> None:
    assert permission_for("no such operation") is Permission.ADMIN
