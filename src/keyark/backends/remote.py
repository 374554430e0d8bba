"""What every backend that talks to a service shares: error translation, the
identical-content rule of ``put``, and a connection pool.

:class:`RemoteBackend` is the base of the object stores
(:class:`~keyark.backends.object_store.ObjectStoreBackend`: S3, Azure, GCS) and of the
file servers (:class:`~keyark.backends.file_server.FileServerBackend`: SFTP, FTP). A
backend module adds only what is specific to its service: how to connect, how to
read the service's errors (:meth:`RemoteBackend._classify`) and its requests.

:class:`ConnectionPool` lends connections of a library that is not thread-safe
(paramiko, ftplib, google-cloud-storage clients) to one thread at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ClassVar, Generic, Protocol, TypeVar

from keyark.backends.base import Capabilities
from keyark.errors import (
    AlreadyExistsError,
    KeyarkError,
    NotFoundError,
    PermanentBackendError,
    TransientBackendError,
)


class PooledConnection(Protocol):
    """A connection a :class:`ConnectionPool` manages."""

    def usable(self) -> bool:
        """Whether an idle connection can serve again (asked before it is lent out)."""
        ...

    def keep(self, error: BaseException | None) -> bool:
        """Whether to pool it again after a use that ended with ``error`` (None: success).

        May raise a clearer error instead (a :class:`KeyarkError`), e.g. "connection lost".
        """
        ...

    def close(self) -> None:
        """Close it; never raises."""
        ...


C = TypeVar("C", bound=PooledConnection)


class ConnectionPool(Generic[C]):
    """Connections lent to one thread at a time, at most ``limit`` at once (None: no limit).

    A connection returns to the pool when :meth:`PooledConnection.keep` says so, else
    it is closed; an idle one that is no longer :meth:`~PooledConnection.usable` is
    replaced by a new one from ``connect``.
    """

    def __init__(
        self, connect: Callable[[], C], limit: int | None, where: Callable[[], str]
    ) -> None:
        self._connect = connect
        self._where = where
        self._slots = threading.BoundedSemaphore(limit) if limit is not None else None
        self._lock = threading.Lock()
        self._idle: list[C] = []
        self._closed = False

    @contextmanager
    def lend(self) -> Iterator[C]:
        """A connection for the duration of the block."""
        if self._closed:
            raise PermanentBackendError(f"{self._where()} is closed")
        if self._slots is not None:
            self._slots.acquire()
        try:
            connection = self._take()
            keep = False
            try:
                yield connection
            except BaseException as error:
                keep = connection.keep(error)
                raise
            else:
                keep = connection.keep(None)
            finally:
                if keep and not self._closed:
                    with self._lock:
                        self._idle.append(connection)
                else:
                    connection.close()
        finally:
            if self._slots is not None:
                self._slots.release()

    def _take(self) -> C:
        with self._lock:
            connection = self._idle.pop() if self._idle else None
        if connection is not None and not connection.usable():
            connection.close()
            connection = None
        return connection if connection is not None else self._connect()

    def close(self) -> None:
        """Close the idle connections; lent ones close when they come back. Idempotent."""
        self._closed = True
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


class RemoteBackend:
    """The service-neutral half of a backend that talks to a server.

    Subclasses set :attr:`kind` (it names the backend in messages: ``"<kind> backend
    <location>"``), implement :meth:`location` and read their library's errors in
    :meth:`_classify`; everything else they leave to the default rule.
    """

    #: The backend's name in messages (``s3``, ``sftp``, ``ftps``, ...).
    kind: str = "remote"
    #: ``put(..., overwrite=True)`` replaces atomically (see :class:`Capabilities`).
    atomic_replace: ClassVar[bool] = True
    #: Library errors that mean "try again" (dropped connections, throttling, timeouts)
    #: when :meth:`_classify` leaves them to the default rule; ``ConnectionError`` and
    #: ``TimeoutError`` always are.
    transient_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    def __init__(self, connections: int) -> None:
        self._connections = max(1, connections)

    # -- description -----------------------------------------------------------------
    def location(self) -> str:
        """A human-readable location without credentials, for messages."""
        raise NotImplementedError

    def capabilities(self) -> Capabilities:
        """Parallel connections (as configured) and whether ``overwrite`` is atomic."""
        return Capabilities(connections=self._connections, atomic_replace=self.atomic_replace)

    def _where(self) -> str:
        """The prefix of this backend's messages: ``"<kind> backend <location>"``."""
        return f"{self.kind} backend {self.location()}"

    # -- errors ----------------------------------------------------------------------
    @contextmanager
    def _errors(self, what: str, *, container: bool = False) -> Iterator[None]:
        """Translate library errors in the block into keyark's backend errors.

        ``what`` names the object or operation in messages. With ``container`` a
        "not found" can only mean that the bucket or container is missing (an upload,
        a listing), for services whose errors do not say which.
        """
        try:
            yield
        except KeyarkError:
            raise
        except Exception as error:
            raise self._translate(error, what, container=container) from None

    def _translate(self, error: Exception, what: str, *, container: bool = False) -> KeyarkError:
        """The service's reading of ``error``, else transient or permanent by its type."""
        translated = self._classify(error, what, container=container)
        if translated is not None:
            return translated
        transient = isinstance(error, (ConnectionError, TimeoutError, *self.transient_errors))
        kind = TransientBackendError if transient else PermanentBackendError
        return kind(f"{self._where()}: {type(error).__name__} on {what}")

    def _classify(self, error: Exception, what: str, *, container: bool) -> KeyarkError | None:
        """The service's own reading of ``error`` (None: the default rule decides)."""
        return None

    def _not_found(self, name: str) -> NotFoundError:
        return NotFoundError(f"{name} not found in {self.location()}")

    # -- identical content -----------------------------------------------------------
    def _accept_existing(
        self, name: str, data: bytes, read: Callable[[], bytes], *, size: int | None = None
    ) -> None:
        """An object ``name`` exists where ``data`` was to be created: accept it when it
        holds exactly ``data`` (an identical put is success, see ``Backend.put``), else
        raise :class:`AlreadyExistsError`. ``read`` returns the stored bytes; with the
        stored ``size`` known, an object of another size is refused without reading it.
        """
        if (size is None or size == len(data)) and read() == data:
            return
        raise AlreadyExistsError(f"{name} already exists in {self.location()}")


__all__ = ["ConnectionPool", "PooledConnection", "RemoteBackend"]
