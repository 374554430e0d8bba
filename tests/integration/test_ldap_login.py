"""Dashboard logins against a real OpenLDAP server (slapd): bind, group -> role mapping,
the highest role of several groups, no role without a mapped group, filter escaping."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.auth_fixtures import AuthServer, auth_server
from tests.ldap_fixtures import (
    ADMIN_DN,
    ADMIN_PASSWORD,
    GROUP_BASE,
    PEOPLE,
    PEOPLE_BASE,
    Slapd,
    running_slapd,
)

from keyark.access.ldap import LdapDirectory, LdapSettings
from keyark.access.permissions import Principal, Role
from keyark.errors import AuthenticationError, DirectoryUnavailableError

ROLES = {"admins": "admin", "operators": "operator", f"cn=auditors,{GROUP_BASE}": "auditor"}


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    with running_slapd(tmp_path_factory.mktemp("slapd")) as server:
        yield server


def _settings(slapd: Slapd, **more: object) -> LdapSettings:
    values: dict[str, object] = {
        "url": slapd.url,
        "user_base": PEOPLE_BASE,
        "group_base": GROUP_BASE,
        "group_roles": {group: Role(role) for group, role in ROLES.items()},
        "bind_dn": ADMIN_DN,
        "bind_password": ADMIN_PASSWORD,
        **more,
    }
    return LdapSettings(**values)  # type: ignore[arg-type]


def test_bind_and_group_roles(slapd: Slapd) -> None:
    directory = LdapDirectory(_settings(slapd))
    # ada: admins + auditors -> admin (the highest); otto: operators + auditors -> operator.
    assert directory.authenticate("ada", PEOPLE["ada"]) == Principal("ldap:ada", Role.ADMIN)
    assert directory.authenticate("otto", PEOPLE["otto"]).role is Role.OPERATOR
    with pytest.raises(AuthenticationError, match="no group"):
        directory.authenticate("nick", PEOPLE["nick"])  # right password, no mapped group
    for user, password in (
        ("ada", "wrong"),
        ("ada", ""),  # an unauthenticated bind would "succeed": refused before
        ("nobody", "whatever"),
        ("*", PEOPLE["ada"]),  # a filter wildcard is escaped, so it finds no one
        ("ada)(uid=*", PEOPLE["ada"]),
    ):
        with pytest.raises(AuthenticationError):
            directory.authenticate(user, password)


def test_wrong_service_password_and_unreachable_server(slapd: Slapd, tmp_path: Path) -> None:
    with pytest.raises(DirectoryUnavailableError):
        LdapDirectory(_settings(slapd, bind_password="wrong")).authenticate("ada", PEOPLE["ada"])
    with pytest.raises(DirectoryUnavailableError):
        LdapDirectory(_settings(slapd, url="ldap://127.0.0.1:1", timeout=2.0)).authenticate(
            "ada", PEOPLE["ada"]
        )


@pytest.fixture
def server(slapd: Slapd, tmp_path: Path) -> Iterator[AuthServer]:
    password_file = tmp_path / "ldap-password"
    password_file.write_text(ADMIN_PASSWORD + "\n")
    password_file.chmod(0o600)
    ldap = {
        "url": slapd.url,
        "bind_dn": ADMIN_DN,
        "bind_password_file": str(password_file),
        "user_base": PEOPLE_BASE,
        "group_base": GROUP_BASE,
        "group_roles": ROLES,
    }
    with auth_server(tmp_path / "server", server={"ldap": ldap}) as running:
        yield running


def test_ldap_login_through_the_server(server: AuthServer) -> None:
    otto = server.client_from()
    login = otto.post("/api/v1/session", json={"username": "otto", "password": PEOPLE["otto"]})
    assert login.status_code == 200, login.text
    assert login.json()["principal"] == "ldap:otto" and login.json()["role"] == "operator"
    assert otto.get("/api/v1/snapshots").status_code == 200  # operator reads metadata
    csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
    assert otto.post("/api/v1/forget", json={}, headers=csrf).status_code == 403  # not admin
    nick = server.client_from()
    refused = nick.post("/api/v1/session", json={"username": "nick", "password": PEOPLE["nick"]})
    assert refused.status_code == 401
    wrong = nick.post("/api/v1/session", json={"username": "ada", "password": "wrong"})
    assert wrong.status_code == 401
    # A local user of the same name wins over the directory.
    server.add_user("ada", Role.VIEWER, "local ada password")
    local = nick.post("/api/v1/session", json={"username": "ada", "password": "local ada password"})
    assert local.json()["principal"] == "user:ada"
