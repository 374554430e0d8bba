"""The storage contract every backend implements.

A backend stores opaque byte objects under slash-separated names such as
``config``, ``keys/<id>``, ``data/ab/<sha256>``. It knows nothing of the
repository format. Seven operations; three error kinds
(:class:`~keyark.errors.NotFoundError`, :class:`~keyark.errors.PermanentBackendError`,
:class:`~keyark.errors.TransientBackendError`); only transient errors are retried
(by :mod:`keyark.backends.retry`, never inside a backend).

Backends that write through temporary objects (local, SFTP, FTP: ``.tmp-<random>``
next to the target, renamed when complete) may leave one behind when the process
is killed mid-write. They also implement :class:`TemporaryObjects`, so ``check``
can report and ``prune`` remove them; object stores (S3, Azure, GCS) write
atomically and have none. Use :func:`list_temporary` and :func:`delete_temporary`,
which fall back to "none" for a backend without the methods.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from keyark.errors import NotFoundError

#: The name prefix of temporary objects, for every backend that writes them.
TEMP_PREFIX = ".tmp-"


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


@dataclass(frozen=True, slots=True)
class TemporaryObject:
    """A temporary object an unfinished write left (or is still writing)."""

    #: Its name relative to the repository root, e.g. ``data/ab/.tmp-0123abcd``.
    name: str
    size: int
    #: Seconds since it was last modified (storage's modification time, client's clock).
    age_seconds: float


@runtime_checkable
class TemporaryObjects(Protocol):
    """Optional part of a backend that writes through temporary objects."""

    def list_temporary(self) -> Iterator[TemporaryObject]:
        """Yield every temporary object (``.tmp-*``) anywhere under the root, each once.

        Includes ones a running write still owns: callers decide by ``age_seconds``.
        """
        ...

    def delete_temporary(self, name: str) -> None:
        """Remove one temporary object listed by :meth:`list_temporary`.

        ``name`` must be a temporary name (last part starts with ``.tmp-``), else
        ``ValueError``; a missing object raises :class:`NotFoundError`.
        """
        ...


def object_exists(backend: Backend, name: str) -> bool:
    """Whether ``backend`` holds an object ``name`` (by ``stat``, without reading it)."""
    try:
        backend.stat(name)
    except NotFoundError:
        return False
    return True


def is_temporary_name(name: str) -> bool:
    """Whether ``name``'s last part is a temporary object's (``.tmp-...``)."""
    return name.rsplit("/", 1)[-1].startswith(TEMP_PREFIX)


def require_temporary_name(name: str) -> None:
    """Raise ``ValueError`` unless ``name`` is a temporary object's (the guard of every
    ``delete_temporary``: it must never remove a repository object)."""
    if not is_temporary_name(name):
        raise ValueError(f"{name!r} is not a temporary object")


def list_temporary(backend: Backend) -> list[TemporaryObject]:
    """The temporary objects of ``backend``; none for a backend that never writes them."""
    lister: Callable[[], Iterator[TemporaryObject]] | None = getattr(
        backend, "list_temporary", None
    )
    return [] if lister is None else list(lister())


def delete_temporary(backend: Backend, name: str) -> None:
    """Remove a temporary object (see :meth:`TemporaryObjects.delete_temporary`).

    Raises ``ValueError`` for a name that is not temporary, or when the backend
    has no temporary objects to delete.
    """
    require_temporary_name(name)
    deleter: Callable[[str], None] | None = getattr(backend, "delete_temporary", None)
    if deleter is None:
        raise ValueError(f"{backend.location()} has no temporary objects")
    deleter(name)


def validate_name(name: str) -> None:
    """Refuse object names that could escape a backend's namespace."""
    if not name or name.startswith("/") or "\\" in name or "\x00" in name:
        raise ValueError(f"invalid object name {name!r}")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise ValueError(f"invalid object name {name!r}")
