"""The config file's ``server:`` section: logins, sessions, rate limits, lockout, LDAP.

``keyark serve`` reads it; API tokens and dashboard users themselves live in the state
directory (``keyark server token``, ``keyark server user``), never in the file.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator

from keyark.config.fields import Duration
from keyark.config.section import Section

#: A role's name (``keyark.access.permissions.Role``).
RoleName = Literal["viewer", "auditor", "operator", "admin"]


class LdapSection(Section):
    """Dashboard logins against an LDAP or Active Directory server, groups mapped to roles."""

    url: str = Field(min_length=1)
    """The server: ``ldap://host:389`` or ``ldaps://host:636``."""
    bind_dn: str | None = None
    """The service account that searches for users (none: an anonymous search)."""
    bind_password_file: str | None = None
    """A file holding the service account's password (its trailing newline is ignored)."""
    user_base: str = Field(min_length=1)
    """Where users are searched (``ou=people,dc=example,dc=org``)."""
    user_filter: str = "(uid={username})"
    """The filter that finds one user; ``{username}`` is the login name, escaped
    (Active Directory: ``(sAMAccountName={username})``)."""
    group_base: str = Field(min_length=1)
    """Where groups are searched (``ou=groups,dc=example,dc=org``)."""
    group_filter: str = "(|(member={dn})(uniqueMember={dn})(memberUid={username}))"
    """The filter that finds a user's groups; ``{dn}`` is the user's DN, ``{username}``
    the login name (both escaped)."""
    group_roles: dict[str, RoleName] = Field(min_length=1)
    """Group (its ``cn`` or its DN) -> role; a user gets the highest role of its groups
    and cannot log in without one."""
    start_tls: bool = False
    """Upgrade an ``ldap://`` connection with StartTLS."""
    timeout: Duration = timedelta(seconds=10)
    """Connect and receive timeout."""

    @field_validator("user_filter")
    @classmethod
    def _user_placeholder(cls, value: str) -> str:
        if "{username}" not in value:
            raise ValueError("user_filter must contain {username}")
        return value


class RateLimitSection(Section):
    """Requests and login attempts allowed per minute (then 429 with ``Retry-After``)."""

    requests_per_minute: int = Field(default=600, ge=1)
    """API and page requests per minute, per token or user and per client address."""
    logins_per_minute: int = Field(default=10, ge=1)
    """Login attempts (TOTP codes included) per minute, per client address and per user name."""


class LockoutSection(Section):
    """Locking a login name after failed logins in a row (recorded in the audit log)."""

    failed_logins: int = Field(default=5, ge=1)
    """Failed logins in a row that lock the name."""
    duration: Duration = timedelta(minutes=15)
    """How long the lock lasts."""


class ServerSection(Section):
    """The HTTP server's logins: sessions, rate limits, lockout and an optional LDAP directory."""

    session_lifetime: Duration = timedelta(hours=8)
    """How long a dashboard login lasts."""
    rate_limits: RateLimitSection = Field(default_factory=RateLimitSection)
    """Requests and login attempts per minute."""
    lockout: LockoutSection = Field(default_factory=LockoutSection)
    """Lockout after failed logins."""
    ldap: LdapSection | None = None
    """Log dashboard users in against LDAP / Active Directory (local users are tried first)."""
    database: str | None = None
    """The control database several servers share: ``postgresql://user@host/db`` (none:
    SQLite in the state directory). Never a password in it: ``passfile=`` in the URL,
    ``PGPASSFILE`` or ``PGPASSWORD``."""

    @field_validator("database")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        from keyark.control.database import check_database_url

        return None if value is None else check_database_url(value)


__all__ = ["LdapSection", "LockoutSection", "RateLimitSection", "RoleName", "ServerSection"]
