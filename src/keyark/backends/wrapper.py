"""The base of backend wrappers (retry, throttle, faults): pass-through by default."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from keyark.backends.base import Backend, Capabilities, TemporaryObject, delete_temporary


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

    def list_temporary(self) -> Iterator[TemporaryObject]:
        """The inner backend's temporary objects (none if it writes none)."""
        lister: Callable[[], Iterator[TemporaryObject]] | None = getattr(
            self.inner, "list_temporary", None
        )
        if lister is not None:
            yield from lister()

    def delete_temporary(self, name: str) -> None:
        """Remove one of the inner backend's temporary objects."""
        delete_temporary(self.inner, name)

    def create_container(self) -> None:
        """Create the bucket/container of the inner backend, if it has one to create."""
        create: Callable[[], None] | None = getattr(self.inner, "create_container", None)
        if create is not None:
            self._create_container(create)

    def _create_container(self, create: Callable[[], None]) -> None:
        """How this wrapper runs the inner ``create_container`` (directly by default)."""
        create()
