"""A real keyark server for tests: uvicorn on 127.0.0.1 (a free port) in a thread.

``server_config(tmp_path)`` writes a config file with one local repository (initialised,
with a small backup) and a job; ``running_server(settings, auth)`` serves
``create_app(settings, auth=auth)`` and yields its base URL; ``TokenAuthenticator``
maps bearer tokens to principals (a stand-in for the real token store), and
``ROLE_TOKENS`` gives one token per role (``TOKENS[role]``).

Other tests use it as::

    from tests.server_fixtures import api_server  # the fixture (re-export it)

    def test_x(api_server: ApiServer) -> None:
        response = api_server.get("/api/v1/snapshots", role="admin")
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from tests.conftest import PASSWORD

from keyark import ops
from keyark.access.permissions import Principal, Role
from keyark.config.loading import load_config_file
from keyark.errors import AuthenticationError
from keyark.server.app import create_app
from keyark.server.security import Authenticator, Session
from keyark.server.settings import ServerSettings

#: One bearer token per role: ``token-<role>`` -> ``Principal("token:<role>", role)``.
ROLE_TOKENS: dict[Role, str] = {role: f"token-{role.value}" for role in Role}


class TokenAuthenticator:
    """Bearer tokens from a fixed table; no sessions, no CSRF (every request is a token's)."""

    def __init__(self, tokens: dict[str, Principal] | None = None) -> None:
        self.tokens = tokens or {
            token: Principal(f"token:{role.value}", role) for role, token in ROLE_TOKENS.items()
        }

    def authenticate(self, request: Any) -> Principal | None:
        """The principal of the request's bearer token (401 for an unknown one)."""
        header = request.headers.get("authorization", "")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        principal = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            raise AuthenticationError("unknown API token")
        return principal

    def require_csrf(self, request: Any) -> None:
        """Bearer requests need no CSRF token."""

    def login(self, request: Any, username: str, password: str, totp: str | None = None) -> Session:
        """No dashboard users here."""
        raise AuthenticationError("no dashboard users in this test server")

    def start_session(self, response: Any, session: Session) -> None:
        """No sessions."""

    def end_session(self, request: Any, response: Any) -> None:
        """No sessions."""

    def csrf_token(self, request: Any) -> str | None:
        """No sessions."""
        return None


def server_config(
    tmp_path: Path,
    *,
    jobs: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    backup: bool = True,
) -> Path:
    """Write ``tmp_path/keyark.yaml``: repository ``main`` (new, local, with one snapshot of
    ``tmp_path/data`` when ``backup``), a password file, job ``nightly`` (unscheduled unless
    ``jobs`` says otherwise) and the state directory ``tmp_path/state``; its path."""
    secret = tmp_path / "password"
    secret.write_text(PASSWORD)
    secret.chmod(0o600)
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True, exist_ok=True)
    (data / "hello.txt").write_text("hello server\n")
    (data / "sub" / "key.pem").write_text("not really a key\n")
    location = tmp_path / "main"
    ops.init_repository(str(location), PASSWORD.encode(), pack_size_mib=1).close()
    document: dict[str, Any] = {
        "version": 1,
        "repositories": {"main": {"url": str(location), "password_file": str(secret),
                                  "cache_dir": str(tmp_path / "cache")}},
        "jobs": jobs if jobs is not None else {"nightly": {"repository": "main",
                                                           "sources": [str(data)]}},
        "scheduler": {"state_dir": str(tmp_path / "state")},
        "audit": {"local_dir": str(tmp_path / "state" / "audit")},
        **(extra or {}),
    }  # fmt: skip
    path = tmp_path / "keyark.yaml"
    path.write_text(yaml.safe_dump(document))
    if backup:
        config = load_config_file(path)
        context = ops.OperationContext(cache_dir=tmp_path / "cache")
        ops.run(
            context, ops.RunOptions(config, next(iter(config.jobs)), state_dir=tmp_path / "state")
        )
    return path


def settings_for(config_path: Path, **more: Any) -> ServerSettings:
    """Server settings for a config file written by :func:`server_config`."""
    config = load_config_file(config_path)
    state_dir = Path(config.scheduler.state_dir or config_path.parent / "state")
    return ServerSettings(config=config, config_path=config_path, state_dir=state_dir, **more)


def free_socket() -> socket.socket:
    """A listening-ready TCP socket bound to 127.0.0.1 on a port the OS chose."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def running_server(
    settings: ServerSettings, auth: Authenticator | None = None, *, timeout: float = 30.0
) -> Iterator[str]:
    """Serve ``create_app(settings, auth=auth)`` with uvicorn on 127.0.0.1 in a thread;
    yields the base URL (``http://127.0.0.1:PORT``); stops the server afterwards."""
    app = create_app(settings, auth=auth)
    sock = free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        app.state.keyark.tasks.cancel_all()
        server.should_exit = True
        thread.join(timeout)
        sock.close()


@dataclass
class ApiServer:
    """A running test server: its base URL, settings, config directory, an HTTP client and
    one bearer token per role."""

    url: str
    settings: ServerSettings
    root: Path
    client: httpx.Client = field(repr=False)
    tokens: dict[Role, str] = field(default_factory=lambda: dict(ROLE_TOKENS), repr=False)

    def headers(self, role: Role | str | None) -> dict[str, str]:
        """The ``Authorization`` header of ``role``'s token (None: none)."""
        return {} if role is None else {"Authorization": f"Bearer {self.tokens[Role(role)]}"}

    def request(self, method: str, path: str, *, role: Role | str | None = "admin",
                **kwargs: Any) -> httpx.Response:  # fmt: skip
        """``method path`` with the bearer token of ``role`` (None: anonymous)."""
        headers = {**self.headers(role), **dict(kwargs.pop("headers", {}) or {})}
        return self.client.request(method, self.url + path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET with a role's token."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        """POST with a role's token."""
        return self.request("POST", path, **kwargs)

    def wait_task(
        self, task_id: str, *, role: str = "admin", timeout: float = 120
    ) -> dict[str, Any]:
        """The task once it has ended (its events streamed to the end first)."""
        url = f"{self.url}/api/v1/tasks/{task_id}/events"
        with self.client.stream(
            "GET", url, headers=self.headers(role), timeout=timeout
        ) as response:
            for _ in response.iter_lines():
                pass
        found: dict[str, Any] = self.get(f"/api/v1/tasks/{task_id}", role=role).json()
        return found


def issue_tokens(settings: ServerSettings) -> dict[Role, str]:
    """A real API token per role in the state directory's token store (what ``keyark
    server token create`` makes)."""
    context = ops.OperationContext()
    return {
        role: ops.server_token_create(
            context,
            ops.TokenCreateOptions(f"test-{role.value}", role.value, state_dir=settings.state_dir),
        ).token
        for role in Role
    }


@contextmanager
def api_server_at(
    tmp_path: Path,
    *,
    jobs: dict[str, Any] | None = None,
    real_auth: bool = False,
    **settings: Any,
) -> Iterator[ApiServer]:
    """A config (:func:`server_config`, with ``jobs`` when given) served with
    :class:`TokenAuthenticator`, or with ``real_auth`` the server's own authenticator and
    a real token per role; ``settings`` are more :class:`ServerSettings` fields."""
    config_path = server_config(tmp_path, jobs=jobs)
    server_settings = settings_for(config_path, **settings)
    auth = None if real_auth else TokenAuthenticator()
    tokens = issue_tokens(server_settings) if real_auth else dict(ROLE_TOKENS)
    with running_server(server_settings, auth) as url, httpx.Client(timeout=60) as client:
        yield ApiServer(url, server_settings, tmp_path, client, tokens)


@pytest.fixture
def api_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiServer]:
    """A running test server over a new config, repository (one snapshot) and state dir."""
    monkeypatch.setenv("KEYARK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    with api_server_at(tmp_path) as server:
        yield server


__all__ = [
    "ROLE_TOKENS",
    "ApiServer",
    "TokenAuthenticator",
    "api_server",
    "api_server_at",
    "free_socket",
    "issue_tokens",
    "running_server",
    "server_config",
    "settings_for",
]
