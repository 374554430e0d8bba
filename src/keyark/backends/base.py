"""The storage contract every backend implements.

A backend stores opaque byte objects under slash-separated names such as
``config``, ``keys/<id>``, ``data/ab/<sha256>``. It knows nothing of the
repository format. Seven operations; three error kinds
(:class:`~keyark.errors.NotFoundError`, :class:`~keyark.errors.PermanentBackendError`,
:class:`~keyark.errors.TransientBackendError`); only transient errors are retried
(by :mod:`keyark.backends.retry`, never inside a backend).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """Name and size of one stored object."""

    name: str
    size: int


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend can do and how hard it may be driven."""

    #: Parallel operations that make sense against this backend.
    connections: int = 4
    #: ``put(..., overwrite=True)`` replaces atomically (readers see old or new, never a mix).
    atomic_replace: bool = True
    #: Objects written carry a server-side retention lock (WORM); deletes of them fail.
    object_lock: bool = False


@runtime_checkable
class Backend(Protocol):
    """Byte storage for one repository. Implementations must be thread-safe."""

    def put(self, name: str, data: bytes, *, overwrite: bool = False) -> None:
        """Store ``data`` under ``name`` atomically.

        Readers see either no object or the whole object, never a partial one,
        also when the process is killed mid-write. Without ``overwrite`` an
        existing object is never replaced: :class:`AlreadyExistsError` is raised
        (unless the existing object has identical content, which is success).
        With ``overwrite`` an existing object is replaced atomically; only the
        mutable repository objects (``config``, ``keyring``) use it.
        When ``put`` returns, the object is durable.
        """
        ...

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """Return ``length`` bytes of ``name`` from ``offset`` (to the end if ``None``).

        A range beyond the end returns the bytes that exist (possibly empty).
        A missing object raises :class:`NotFoundError`.
        """
        ...

    def stat(self, name: str) -> ObjectInfo:
        """Return the size of ``name``; :class:`NotFoundError` if it does not exist."""
        ...

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Yield every complete object whose name starts with ``prefix`` exactly once.

        ``prefix`` is a directory-like prefix such as ``"snapshots/"`` or ``"data/"``
        (which includes ``data/ab/...``). Temporary objects of unfinished writes
        are never listed. Order is unspecified.
        """
        ...

    def delete(self, name: str) -> None:
        """Remove ``name``. Deleting a missing object raises :class:`NotFoundError`."""
        ...

    def close(self) -> None:
        """Release connections and other resources. Idempotent."""
        ...

    def capabilities(self) -> Capabilities:
        """Describe limits and features of this backend."""
        ...

    def location(self) -> str:
        """A human-readable location without credentials, for messages."""
        ...


def validate_name(name: str) -> None:
    """Refuse object names that could escape a backend's namespace."""
    if not name or name.startswith("/") or "\\" in name or "\x00" in name:
        raise ValueError(f"invalid object name {name!r}")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise ValueError(f"invalid object name {name!r}")
