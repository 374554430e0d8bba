"""The web dashboard: server-rendered pages over the same operations as the API (owned by
the dashboard work; this stub is replaced)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI


def mount(app: FastAPI) -> None:
    """Add the dashboard's pages and static files to ``app`` (no-op until built)."""


__all__ = ["mount"]
