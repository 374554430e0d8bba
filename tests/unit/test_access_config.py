"""The config's ``server:`` section and what the authenticator makes of it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from keyark.access.permissions import Role
from keyark.config.document import KeyarkConfig
from keyark.errors import UsageError
from keyark.server.auth import make_authenticator
from keyark.server.auth.settings import access_policy, ldap_settings


def _config(server: dict[str, Any]) -> KeyarkConfig:
    return KeyarkConfig.model_validate({"version": 1, "server": server})


def _ldap(**more: Any) -> dict[str, Any]:
    return {
        "url": "ldap://127.0.0.1:389",
        "user_base": "ou=people,dc=example,dc=org",
        "group_base": "ou=groups,dc=example,dc=org",
        "group_roles": {"admins": "admin"},
        **more,
    }


def test_defaults_and_given_limits() -> None:
    default = access_policy(_config({}).server)
    assert (default.requests_per_minute, default.logins_per_minute) == (600, 10)
    assert default.lockout.threshold == 5 and default.lockout.duration == timedelta(minutes=15)
    given = access_policy(
        _config(
            {
                "session_lifetime": "30m",
                "rate_limits": {"requests_per_minute": 60, "logins_per_minute": 3},
                "lockout": {"failed_logins": 2, "duration": "1h"},
            }
        ).server
    )
    assert given.session_lifetime == timedelta(minutes=30) and given.logins_per_minute == 3
    assert given.lockout.threshold == 2 and given.lockout.duration == timedelta(hours=1)
    assert ldap_settings(_config({}).server) is None


@pytest.mark.parametrize(
    "server",
    [
        {"rate_limits": {"requests_per_minute": 0}},
        {"lockout": {"failed_logins": 0}},
        {"ldap": _ldap(user_filter="(uid=alice)")},  # no {username}
        {"ldap": _ldap(group_roles={"admins": "root"})},  # no such role
        {"ldap": _ldap(group_roles={})},
        {"ldap": _ldap(bind_password="inline")},  # secrets by file only
    ],
)
def test_bad_server_sections_are_refused(server: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _config(server)


def test_ldap_settings_read_the_bind_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "bind"
    secret.write_text("service password\n")
    config = _config({"ldap": _ldap(bind_dn="cn=svc", bind_password_file=str(secret))})
    settings = ldap_settings(config.server)
    assert settings is not None and settings.bind_password == "service password"
    assert settings.group_roles == {"admins": Role.ADMIN}
    assert "service password" not in repr(settings)
    auth = make_authenticator(tmp_path / "state", tls=False, config=config)
    assert auth.directory is not None
    missing = _config({"ldap": _ldap(bind_password_file=str(tmp_path / "missing"))})
    with pytest.raises(UsageError):
        make_authenticator(tmp_path / "state", tls=False, config=missing)
