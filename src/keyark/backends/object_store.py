"""The base of the object-store backends (S3, Azure Blob, GCS): a repository under a
prefix of a bucket (or container).

Object stores write atomically (no temporary objects) and create an object only if
it is absent in one request; :class:`ObjectStoreBackend` maps the seven operations
of :class:`~keyark.backends.base.Backend` onto a handful of service requests
(``_upload``, ``_download``, ``_size``, ``_keys``, ``_remove``, ``_create``) that each
backend module implements with its SDK.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from typing import ClassVar
from urllib.parse import unquote, urlsplit

from keyark.backends.base import ObjectInfo, validate_name
from keyark.backends.remote import RemoteBackend
from keyark.errors import ContainerNotFoundError, UsageError


class ObjectStoreBackend(RemoteBackend):
    """Objects ``<prefix>/<name>`` in the bucket or container ``container``."""

    #: The URL scheme (``s3``, ``gs``, ``azure``).
    scheme: ClassVar[str] = ""
    #: What the service calls the top level (``bucket``, ``container``), for messages.
    container_noun: ClassVar[str] = "bucket"
    #: The service's name in messages (``S3``, ``Azure``, ...).
    service: ClassVar[str] = ""

    def __init__(self, container: str, prefix: str, connections: int) -> None:
        super().__init__(connections)
        self.container = container
        self.prefix = prefix.strip("/")

    @classmethod
    def split_url(cls, url: str) -> tuple[str, str]:
        """(container, prefix) of ``<scheme>://<container>/<prefix>``.

        :class:`UsageError` for another shape, and for credentials in the URL (they
        belong in the repository's options, where they are kept secret).
        """
        parts = urlsplit(url)
        shape = f"{cls.scheme}://{cls.container_noun}/prefix"
        if parts.scheme.lower() != cls.scheme or not parts.netloc:
            raise UsageError(f"{cls.service} repository URLs look like {shape}")
        if "@" in parts.netloc:
            raise UsageError(
                f"credentials do not belong in {cls.scheme}:// URLs; give them as the "
                f"repository's {cls.service} options"
            )
        return parts.netloc, unquote(parts.path)

    # -- the service's requests ------------------------------------------------------
    def _upload(self, name: str, key: str, data: bytes, *, overwrite: bool) -> bool:
        """Store ``data`` at ``key``, replacing an object only with ``overwrite``.

        Returns False (and stores nothing) when an object exists and ``overwrite`` is off.
        """
        raise NotImplementedError

    def _download(self, key: str, offset: int, length: int | None) -> bytes:
        """``length`` bytes from ``offset`` (all if None); b"" from the end on."""
        raise NotImplementedError

    def _size(self, key: str) -> int | None:
        """The object's size; None (or the library's "not found") when it is missing."""
        raise NotImplementedError

    def _keys(self, prefix: str) -> Iterator[tuple[str, int]]:
        """(key, size) of every object whose key starts with ``prefix``."""
        raise NotImplementedError

    def _remove(self, name: str, key: str) -> None:
        """Delete the object; the library's "not found" when it is missing."""
        raise NotImplementedError

    def _create(self) -> None:
        """Create the bucket or container; nothing if it exists already."""
        raise NotImplementedError

    def _release(self) -> None:
        """Close the SDK's clients."""

    # -- helpers ---------------------------------------------------------------------
    def _key(self, name: str) -> str:
        validate_name(name)
        return f"{self.prefix}/{name}" if self.prefix else name

    def _missing_container(self) -> ContainerNotFoundError:
        return ContainerNotFoundError(
            f"{self._where()}: {self.container_noun} {self.container} does not exist"
        )

    # -- the protocol ----------------------------------------------------------------
    def location(self) -> str:
        """``<scheme>://<container>[/<prefix>]``."""
        base = f"{self.scheme}://{self.container}"
        return f"{base}/{self.prefix}" if self.prefix else base

    def create_container(self) -> None:
        """Create the bucket or container if it is missing (``init`` calls it)."""
        with self._errors(f"{self.container_noun} {self.container}"):
            self._create()

    def put(self, name: str, data: bytes, *, overwrite: bool = False) -> None:
        """Store ``data`` under ``name`` in one atomic upload (see ``Backend.put``).

        Without ``overwrite`` the upload is conditional (create if absent); when an
        object exists it is accepted if identical, else :class:`AlreadyExistsError`.
        """
        key = self._key(name)
        with self._errors(name, container=True):
            if not self._upload(name, key, data, overwrite=overwrite):
                self._accept_existing(name, data, lambda: self._download(key, 0, None))

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """``length`` bytes of ``name`` from ``offset`` (see ``Backend.get``)."""
        key = self._key(name)
        if length is not None and length <= 0:
            self.stat(name)  # still NotFoundError for a missing object
            return b""
        with self._errors(name):
            return self._download(key, offset, length)

    def stat(self, name: str) -> ObjectInfo:
        """The size of ``name``; :class:`NotFoundError` if it does not exist."""
        key = self._key(name)
        with self._errors(name):
            size = self._size(key)
        if size is None:
            raise self._not_found(name)
        return ObjectInfo(name, size)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose name starts with ``prefix``, once (see ``Backend.list``).

        Keys ending in ``/`` (the "directory" placeholders some tools create) are
        not objects of a repository and are passed over.
        """
        root = f"{self.prefix}/" if self.prefix else ""
        with self._errors(prefix or "listing", container=True):
            for key, size in self._keys(root + prefix):
                if not key.endswith("/"):
                    yield ObjectInfo(key[len(root) :], size)

    def delete(self, name: str) -> None:
        """Remove ``name``; :class:`NotFoundError` if it does not exist."""
        key = self._key(name)
        with self._errors(name):
            self._remove(name, key)

    def close(self) -> None:
        """Close the SDK's clients. Idempotent; never raises."""
        with suppress(Exception):
            self._release()


__all__ = ["ObjectStoreBackend"]
