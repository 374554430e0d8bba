"""A real keyark server with the real authenticator (:mod:`keyark.server.auth`) for tests.

``auth_server(root, server=...)`` writes a config (``tests.server_fixtures.server_config``,
its ``server:`` section from ``server``), issues one API token per role through the
catalogue operation ``server token create``, serves the app with uvicorn on 127.0.0.1
and yields an :class:`AuthServer`. ``client_from(address)`` makes requests from another
loopback address (127.0.0.2, ...), so limits per client address can be told apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tests.server_fixtures import running_server, server_config, settings_for

from keyark import ops
from keyark.access.permissions import Role
from keyark.server.auth import make_authenticator
from keyark.server.auth.authenticator import ServerAuthenticator
from keyark.server.settings import ServerSettings


@dataclass
class AuthServer:
    """A running server: URL, settings, its authenticator, and one token per role."""

    url: str
    settings: ServerSettings
    auth: ServerAuthenticator
    tokens: dict[Role, str] = field(repr=False)
    clients: list[httpx.Client] = field(default_factory=list, repr=False)

    def client_from(self, address: str = "127.0.0.1") -> httpx.Client:
        """An HTTP client whose requests come from loopback ``address`` (closed at the end)."""
        transport = httpx.HTTPTransport(local_address=address)
        client = httpx.Client(base_url=self.url, transport=transport, timeout=60)
        self.clients.append(client)
        return client

    def bearer(self, token: str) -> dict[str, str]:
        """The ``Authorization`` header of ``token``."""
        return {"Authorization": f"Bearer {token}"}

    def issue(self, name: str, role: Role, **options: Any) -> str:
        """A new API token, through the catalogue operation (as ``keyark server`` does)."""
        created = ops.server_token_create(
            ops.OperationContext(),
            ops.TokenCreateOptions(name, role.value, state_dir=self.settings.state_dir, **options),
        )
        return created.token

    def add_user(self, name: str, role: Role, password: str, *, totp: bool = False) -> str | None:
        """A new dashboard user; its TOTP enrolment URI (None without TOTP)."""
        added = ops.server_user_add(
            ops.OperationContext(),
            ops.UserAddOptions(name, role.value, password, totp, state_dir=self.settings.state_dir),
        )
        return added.totp_uri


@contextmanager
def auth_server(root: Path, *, server: dict[str, Any] | None = None) -> Iterator[AuthServer]:
    """Serve a new config under ``root`` with the real authenticator (see the module)."""
    root.mkdir(parents=True, exist_ok=True)
    config_path = server_config(root, extra={"server": server or {}})
    settings = settings_for(config_path)
    auth = make_authenticator(settings.state_dir, tls=False, config=settings.config)
    with running_server(settings, auth) as url:
        found = AuthServer(url, settings, auth, {})
        found.tokens = {role: found.issue(f"role-{role.value}", role) for role in Role}
        try:
            yield found
        finally:
            for client in found.clients:
                client.close()


__all__ = ["AuthServer", "auth_server"]
