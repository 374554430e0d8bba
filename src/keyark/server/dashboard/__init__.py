"""The web dashboard: server-rendered pages (Jinja2) over the same operations as the API.

Every page runs its operations through :class:`~keyark.server.state.ServerState` for
the session's principal and needs the permission of what it shows. Pages: login,
overview, job detail (history chart, logs), task progress, snapshots browser with
downloads, inventory, alerts, audit log, compliance report, keys and agents. The small
JavaScript it uses (htmx, uPlot) is vendored under ``static/vendor`` (see
``scripts/vendor_js.sh``): nothing is loaded from elsewhere at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

#: Where the dashboard's static files are served.
STATIC_PATH = "/static"


def mount(app: FastAPI) -> None:
    """Add the dashboard's pages and static files to ``app``."""
    from starlette.staticfiles import StaticFiles

    from keyark.server.dashboard import login, routes
    from keyark.server.dashboard.templating import STATIC_DIR

    app.include_router(login.router)
    app.include_router(routes.router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="static")


__all__ = ["STATIC_PATH", "mount"]
