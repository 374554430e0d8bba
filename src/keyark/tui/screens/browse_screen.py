"""The base of the browser's screens: the application they run in, as its own type."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen

if TYPE_CHECKING:
    from keyark.tui.app import BrowseApp


class BrowseScreen(Screen[None]):
    """A screen of ``keyark browse``."""

    @property
    def browse(self) -> BrowseApp:
        """The application this screen runs in (its session, marks and restore target)."""
        return self.app  # type: ignore[return-value]


__all__ = ["BrowseScreen"]
