"""The authenticator's settings from the config's ``server:`` section, and the audit
record of a lockout."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from keyark.access.ldap import LdapSettings
from keyark.access.lockout import LockoutPolicy
from keyark.access.permissions import Role
from keyark.server.auth.authenticator import AccessPolicy, LockoutListener

if TYPE_CHECKING:
    from keyark.config.document import KeyarkConfig
    from keyark.config.server import ServerSection

log = logging.getLogger(__name__)

#: The audit log's operation name of a lockout.
LOCKOUT_EVENT = "server login lockout"


def access_policy(section: ServerSection | None) -> AccessPolicy:
    """Limits, lockout and session lifetime of ``section`` (None: the defaults)."""
    if section is None:
        return AccessPolicy()
    return AccessPolicy(
        requests_per_minute=section.rate_limits.requests_per_minute,
        logins_per_minute=section.rate_limits.logins_per_minute,
        lockout=LockoutPolicy(section.lockout.failed_logins, section.lockout.duration),
        session_lifetime=section.session_lifetime,
    )


def ldap_settings(section: ServerSection | None) -> LdapSettings | None:
    """The directory of ``section.ldap`` (its bind password read from its file), or None."""
    if section is None or section.ldap is None:
        return None
    from keyark.config.secrets import read_secret_file

    ldap = section.ldap
    password = None
    if ldap.bind_password_file:
        password = read_secret_file(ldap.bind_password_file).decode()
    return LdapSettings(
        url=ldap.url,
        user_base=ldap.user_base,
        group_base=ldap.group_base,
        group_roles={group: Role(role) for group, role in ldap.group_roles.items()},
        bind_dn=ldap.bind_dn,
        bind_password=password,
        user_filter=ldap.user_filter,
        group_filter=ldap.group_filter,
        start_tls=ldap.start_tls,
        timeout=ldap.timeout.total_seconds(),
    )


def lockout_recorder(config: KeyarkConfig | None) -> LockoutListener | None:
    """A listener that records a lockout in the audit log of every repository of
    ``config`` (chained at each one's next keyed write); None without a config."""
    if config is None:
        return None

    def record(name: str) -> None:
        from keyark import ops

        actor = ops.Actor.current(principal=f"user:{name}")
        problem = ops.audit_event(config, LOCKOUT_EVENT, actor)
        if problem is not None:
            log.warning("the lockout of %r was not recorded in the audit log: %s", name, problem)

    return record


__all__ = ["LOCKOUT_EVENT", "access_policy", "ldap_settings", "lockout_recorder"]
