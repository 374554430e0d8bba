"""Google Cloud Storage backend (google-cloud-storage): ``gs://bucket/prefix``.

Credentials come from the client library's Application Default Credentials. With
``settings["gcs_emulator"]`` (the config resolver sets it from ``STORAGE_EMULATOR_HOST``),
or an endpoint in ``settings["gcs_endpoint"]`` and no ``settings["gcs_credentials_file"]``,
requests are anonymous (emulators). The project for ``create_container()`` comes
from ``settings["gcs_project"]``.

An upload is atomic; new objects are written with ``ifGenerationMatch=0`` so an
existing object is never replaced. The client library's retries are disabled:
:mod:`keyark.backends.retry` does that. Clients are per thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

import google.api_core.exceptions as gexc
import google.auth.exceptions
import requests.exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from keyark.backends.base import Capabilities, ObjectInfo, validate_name
from keyark.backends.registry import BackendOptions
from keyark.errors import (
    AlreadyExistsError,
    ContainerNotFoundError,
    KeyarkError,
    NotFoundError,
    PermanentBackendError,
    TransientBackendError,
    UsageError,
)

DEFAULT_CONNECTIONS = 8
DEFAULT_TIMEOUT = 60.0
_BUCKET_MISSING = "bucket does not exist"


class GCSBackend:
    """A repository under a prefix of a Google Cloud Storage bucket."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        project: str | None = None,
        endpoint: str | None = None,
        anonymous: bool = False,
        connections: int = DEFAULT_CONNECTIONS,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.bucket_name = bucket
        self.prefix = prefix.strip("/")
        self.project = project
        self.endpoint = endpoint
        self.anonymous = anonymous
        self.timeout = timeout
        self._connections = max(1, connections)
        self._idle: list[storage.Bucket] = []
        self._clients: list[storage.Client] = []
        self._lock = threading.Lock()

    # -- description -----------------------------------------------------------------
    def location(self) -> str:
        base = f"gs://{self.bucket_name}"
        return f"{base}/{self.prefix}" if self.prefix else base

    def capabilities(self) -> Capabilities:
        return Capabilities(connections=self._connections, atomic_replace=True)

    # -- clients ---------------------------------------------------------------------
    @contextmanager
    def _bucket(self) -> Iterator[storage.Bucket]:
        """Lend a bucket handle whose client no other thread uses meanwhile."""
        with self._lock:
            bucket = self._idle.pop() if self._idle else None
        if bucket is None:
            kwargs: dict[str, Any] = {}
            if self.endpoint:
                kwargs["client_options"] = {"api_endpoint": self.endpoint}
            if self.anonymous:
                kwargs["credentials"] = AnonymousCredentials()  # type: ignore[no-untyped-call]
                kwargs["project"] = self.project or "keyark"
            elif self.project:
                kwargs["project"] = self.project
            client = storage.Client(**kwargs)
            with self._lock:
                self._clients.append(client)
            bucket = client.bucket(self.bucket_name)
        try:
            yield bucket
        finally:
            with self._lock:
                self._idle.append(bucket)

    # -- errors ----------------------------------------------------------------------
    @contextmanager
    def _errors(self, what: str, *, missing_is_bucket: bool = False) -> Iterator[None]:
        """Translate library errors; with ``missing_is_bucket`` a 404 (of an upload or
        a listing) can only mean the bucket is missing."""
        try:
            yield
        except KeyarkError:
            raise
        except Exception as error:
            raise self._translate(error, what, missing_is_bucket) from None

    def _translate(self, error: Exception, what: str, missing_is_bucket: bool) -> KeyarkError:
        where = f"gcs backend {self.location()}"
        if isinstance(error, gexc.NotFound):
            if missing_is_bucket or _BUCKET_MISSING in str(error.message).lower():
                return ContainerNotFoundError(f"{where}: bucket {self.bucket_name} does not exist")
            return NotFoundError(f"{what} not found in {self.location()}")
        if isinstance(error, (gexc.Unauthorized, google.auth.exceptions.RefreshError)):
            return PermanentBackendError(f"{where}: credentials rejected")
        if isinstance(error, google.auth.exceptions.DefaultCredentialsError):
            return PermanentBackendError(
                f"{where}: no Google credentials found (set GOOGLE_APPLICATION_CREDENTIALS)"
            )
        if isinstance(error, gexc.Forbidden):
            return PermanentBackendError(f"{where}: access denied for {what}")
        if isinstance(
            error,
            (
                gexc.TooManyRequests,
                gexc.ServerError,
                google.auth.exceptions.TransportError,
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError,
                ConnectionError,
                TimeoutError,
            ),
        ):
            return TransientBackendError(f"{where}: {type(error).__name__} on {what}")
        if isinstance(error, gexc.GoogleAPICallError) and error.code == 408:
            return TransientBackendError(f"{where}: request timeout on {what}")
        if isinstance(error, gexc.GoogleAPICallError):
            return PermanentBackendError(f"{where}: HTTP {error.code} on {what}")
        return PermanentBackendError(f"{where}: {type(error).__name__} on {what}")

    # -- helpers ---------------------------------------------------------------------
    def _key(self, name: str) -> str:
        validate_name(name)
        return f"{self.prefix}/{name}" if self.prefix else name

    def _download(self, key: str, offset: int, length: int | None) -> bytes:
        end = None if length is None else offset + length - 1
        try:
            with self._bucket() as bucket:
                data: bytes = bucket.blob(key).download_as_bytes(
                    start=offset or None,
                    end=end,
                    raw_download=True,
                    checksum=None if (offset or end is not None) else "auto",
                    retry=None,
                    timeout=self.timeout,
                )
        except gexc.RequestRangeNotSatisfiable:
            return b""  # offset at or beyond the end of an existing object
        return data

    # -- operations ------------------------------------------------------------------
    def create_container(self) -> None:
        """Create the bucket if it is missing."""
        with self._errors(f"bucket {self.bucket_name}"):
            try:
                with self._bucket() as bucket:
                    bucket.client.create_bucket(bucket, retry=None, timeout=self.timeout)
            except gexc.Conflict:
                pass

    def put(self, name: str, data: bytes, *, overwrite: bool = False) -> None:
        key = self._key(name)
        with self._errors(name, missing_is_bucket=True):
            try:
                with self._bucket() as bucket:
                    bucket.blob(key).upload_from_string(
                        data,
                        content_type="application/octet-stream",
                        if_generation_match=None if overwrite else 0,
                        retry=None,
                        timeout=self.timeout,
                    )
            except gexc.PreconditionFailed:
                if overwrite or self._download(key, 0, None) != data:
                    raise AlreadyExistsError(
                        f"{name} already exists in {self.location()}"
                    ) from None

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        key = self._key(name)
        if length is not None and length <= 0:
            self.stat(name)
            return b""
        with self._errors(name):
            return self._download(key, offset, length)

    def stat(self, name: str) -> ObjectInfo:
        key = self._key(name)
        with self._errors(name):
            with self._bucket() as bucket:
                blob = bucket.get_blob(key, retry=None, timeout=self.timeout)
            if blob is None:
                raise NotFoundError(f"{name} not found in {self.location()}")
            return ObjectInfo(name, int(blob.size or 0))

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        root = f"{self.prefix}/" if self.prefix else ""
        with self._errors(prefix or "listing", missing_is_bucket=True), self._bucket() as bucket:
            blobs = bucket.client.list_blobs(
                bucket, prefix=root + prefix, retry=None, timeout=self.timeout
            )
            for blob in blobs:
                yield ObjectInfo(blob.name[len(root) :], int(blob.size or 0))

    def delete(self, name: str) -> None:
        key = self._key(name)
        with self._errors(name), self._bucket() as bucket:
            bucket.blob(key).delete(retry=None, timeout=self.timeout)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
            self._idle = []
        for client in clients:
            try:
                client.close()
            except Exception:
                pass


def from_url(url: str, options: BackendOptions) -> GCSBackend:
    """Open ``gs://bucket/prefix`` (settings: ``gcs_endpoint``, ``gcs_project``,
    ``gcs_anonymous``, ``gcs_emulator``, ``gcs_credentials_file``, ``gcs_connections``,
    ``gcs_timeout``; the config resolver fills emulator, credentials file and project
    from ``STORAGE_EMULATOR_HOST``, ``GOOGLE_APPLICATION_CREDENTIALS``,
    ``GOOGLE_CLOUD_PROJECT``)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "gs" or not parts.netloc:
        raise UsageError("a Google Cloud Storage repository URL looks like gs://bucket/prefix")
    if "@" in parts.netloc:
        raise UsageError("credentials do not belong in gs:// URLs")
    settings = options.settings
    endpoint = settings.get("gcs_endpoint") or None
    emulator = bool(settings.get("gcs_emulator"))
    anonymous = bool(settings.get("gcs_anonymous")) or emulator
    if endpoint and not settings.get("gcs_credentials_file"):
        anonymous = True
    return GCSBackend(
        parts.netloc,
        unquote(parts.path),
        project=settings.get("gcs_project") or None,
        endpoint=endpoint,
        anonymous=anonymous,
        connections=int(settings.get("gcs_connections", DEFAULT_CONNECTIONS)),
        timeout=float(settings.get("gcs_timeout", DEFAULT_TIMEOUT)),
    )
