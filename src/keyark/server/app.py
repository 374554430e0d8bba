"""The server's FastAPI application: the API of :data:`~keyark.server.routes.ROUTES`,
problem+json errors, OpenAPI at ``/api/v1/openapi.json`` and the dashboard."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from keyark import __version__
from keyark.server import problems
from keyark.server.router import build_router
from keyark.server.state import ServerState

if TYPE_CHECKING:
    from keyark.server.security import Authenticator
    from keyark.server.settings import ServerSettings

OPENAPI_URL = "/api/v1/openapi.json"
DOCS_URL = "/api/docs"


def create_app(settings: ServerSettings, *, auth: Authenticator | None = None) -> FastAPI:
    """The application serving ``settings``; ``auth`` None: the token and user store of
    the state directory (:func:`keyark.server.auth.make_authenticator`)."""
    if auth is None:
        from keyark.server.auth import make_authenticator

        auth = make_authenticator(settings.state_dir, tls=settings.tls, config=settings.config)
    app = FastAPI(
        title="keyark",
        version=__version__,
        summary="Backups of keys and certificates: the REST API of keyark serve.",
        openapi_url=OPENAPI_URL,
        docs_url=DOCS_URL,
        redoc_url=None,
    )
    app.state.auth = auth
    app.state.keyark = ServerState(settings)
    problems.install(app)
    app.include_router(build_router())
    from keyark.server.fleet_routes import router as fleet_router

    app.include_router(fleet_router)
    _include_auth_router(app)
    from keyark.server import dashboard

    dashboard.mount(app)
    return app


def _include_auth_router(app: FastAPI) -> None:
    """The authentication's own routes (login sessions), once they exist."""
    from keyark.server import auth as auth_package

    try:
        router = getattr(auth_package, "router", None)
    except ModuleNotFoundError:  # not built yet
        return
    if router is not None:
        app.include_router(router)


__all__ = ["DOCS_URL", "OPENAPI_URL", "create_app"]
