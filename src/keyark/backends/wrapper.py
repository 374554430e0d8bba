"""The base of backend wrappers (retry, throttle, faults): pass-through by default."""

from __future__ import annotations

from collections.abc import Callable

from keyark.backends.base import Backend, Capabilities


class BackendWrapper:
    """Delegates the methods a wrapper does not change to ``inner``."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner

    def close(self) -> None:
        """Close the inner backend."""
        self.inner.close()

    def capabilities(self) -> Capabilities:
        """The inner backend's capabilities."""
        return self.inner.capabilities()

    def location(self) -> str:
        """The inner backend's location."""
        return self.inner.location()

    def create_container(self) -> None:
        """Create the bucket/container of the inner backend, if it has one to create."""
        create: Callable[[], None] | None = getattr(self.inner, "create_container", None)
        if create is not None:
            self._create_container(create)

    def _create_container(self, create: Callable[[], None]) -> None:
        """How this wrapper runs the inner ``create_container`` (directly by default)."""
        create()
