"""Logins against an LDAP or Active Directory server (ldap3), groups mapped to roles.

A login (1) binds as the service account (or anonymously), (2) searches ``user_base``
for the one entry matching ``user_filter`` with the name escaped, (3) binds as that
entry's DN with the password given (an empty password is refused before: LDAP treats
it as an unauthenticated bind that "succeeds"), and (4) searches ``group_base`` for the
groups listing the user (``group_filter``). The user gets the highest role any of its
groups maps to (``group_roles``: a group's DN or its ``cn``); no mapped group, no login.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from keyark.access.permissions import Principal, Role
from keyark.errors import AuthenticationError, DirectoryUnavailableError

#: The roles from least to most (a user in several mapped groups gets the last).
ROLE_ORDER: tuple[Role, ...] = (Role.VIEWER, Role.AUDITOR, Role.OPERATOR, Role.ADMIN)


@dataclass(frozen=True)
class LdapSettings:
    """Where the directory is, how to find users and their groups, and group -> role."""

    url: str
    user_base: str
    group_base: str
    #: Group DN or ``cn`` -> role.
    group_roles: dict[str, Role]
    bind_dn: str | None = None
    bind_password: str | None = field(default=None, repr=False)
    #: ``{username}`` is replaced by the escaped login name.
    user_filter: str = "(uid={username})"
    #: ``{dn}`` is replaced by the escaped user DN, ``{username}`` by the login name.
    group_filter: str = "(|(member={dn})(uniqueMember={dn})(memberUid={username}))"
    start_tls: bool = False
    timeout: float = 10.0


def _escape(value: str) -> str:
    from ldap3.utils.conv import escape_filter_chars  # type: ignore[import-untyped]

    return str(escape_filter_chars(value))


class LdapDirectory:
    """Password checks and group lookups against one directory."""

    def __init__(self, settings: LdapSettings) -> None:
        self.settings = settings

    def _connection(self, user: str | None, password: str | None) -> Any:
        import ldap3  # type: ignore[import-untyped]

        seconds = max(1, math.ceil(self.settings.timeout))  # ldap3 packs them as integers
        server = ldap3.Server(self.settings.url, connect_timeout=seconds, get_info=ldap3.NONE)
        connection = ldap3.Connection(
            server,
            user=user,
            password=password,
            receive_timeout=seconds,
            raise_exceptions=False,
        )
        try:
            connection.open()
            if self.settings.start_tls:
                connection.start_tls()
        except ldap3.core.exceptions.LDAPException as error:
            raise DirectoryUnavailableError(
                f"the LDAP server {self.settings.url} cannot be reached ({type(error).__name__})"
            ) from None
        return connection

    def authenticate(self, username: str, password: str) -> Principal:
        """The ``ldap:<name>`` principal of a user whose bind succeeds and whose groups map
        to a role; AuthenticationError otherwise."""
        refused = AuthenticationError("wrong user name, password or one-time code")
        if not username or not password:
            raise refused
        settings = self.settings
        service = self._connection(settings.bind_dn, settings.bind_password)
        try:
            if not service.bind():
                raise DirectoryUnavailableError(
                    "the LDAP server refused the service account's bind"
                )
            user_filter = settings.user_filter.replace("{username}", _escape(username))
            service.search(settings.user_base, user_filter, attributes=["cn"])
            entries = list(service.entries)
            if len(entries) != 1:
                raise refused
            user_dn = str(entries[0].entry_dn)
            roles = self._roles(service, user_dn, username)
        finally:
            service.unbind()
        person = self._connection(user_dn, password)
        try:
            if not person.bind():
                raise refused
        finally:
            person.unbind()
        if not roles:
            raise AuthenticationError("this directory user is in no group that has a role")
        return Principal(f"ldap:{username}", max(roles, key=ROLE_ORDER.index))

    def _roles(self, connection: Any, user_dn: str, username: str) -> list[Role]:
        settings = self.settings
        group_filter = settings.group_filter.replace("{dn}", _escape(user_dn)).replace(
            "{username}", _escape(username)
        )
        connection.search(settings.group_base, group_filter, attributes=["cn"])
        wanted = {key.lower(): role for key, role in settings.group_roles.items()}
        roles: list[Role] = []
        for entry in connection.entries:
            names = [str(entry.entry_dn).lower()]
            if "cn" in entry.entry_attributes:
                names += [str(value).lower() for value in entry.cn.values]
            roles += [wanted[name] for name in names if name in wanted]
        return roles


__all__ = ["ROLE_ORDER", "LdapDirectory", "LdapSettings"]
