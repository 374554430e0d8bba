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

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import google.api_core.exceptions as gexc
import google.auth.exceptions
import requests.exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from keyark.backends.object_store import ObjectStoreBackend
from keyark.backends.registry import BackendOptions
from keyark.backends.remote import ConnectionPool
from keyark.errors import (
    KeyarkError,
    PermanentBackendError,
    TransientBackendError,
)

DEFAULT_CONNECTIONS = 8
DEFAULT_TIMEOUT = 60.0
_BUCKET_MISSING = "bucket does not exist"


@dataclass
class _Handle:
    """A bucket handle whose client serves one thread at a time (a pooled connection)."""

    bucket: storage.Bucket

    def usable(self) -> bool:
        return True

    def keep(self, error: BaseException | None) -> bool:
        # After a 416 (a read from the end on) a server may drop the kept-alive HTTP
        # connection (fake-gcs-server does): its next request would fail, so start afresh.
        return not isinstance(error, gexc.RequestRangeNotSatisfiable)

    def close(self) -> None:
        with suppress(Exception):
            self.bucket.client.close()


class GCSBackend(ObjectStoreBackend):
    """A repository under a prefix of a Google Cloud Storage bucket."""

    kind = "gcs"
    scheme = "gs"
    service = "Google Cloud Storage"
    transient_errors = (
        gexc.TooManyRequests,
        gexc.ServerError,
        google.auth.exceptions.TransportError,
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        requests.exceptions.ChunkedEncodingError,
    )

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
        super().__init__(bucket, prefix, connections)
        self.project = project
        self.endpoint = endpoint
        self.anonymous = anonymous
        self.timeout = timeout
        # Not limited: each thread that needs a client gets one (clients are not thread-safe).
        self._pool = ConnectionPool(self._connect, None, self._where)

    @property
    def bucket_name(self) -> str:
        """The bucket's name."""
        return self.container

    def _connect(self) -> _Handle:
        kwargs: dict[str, Any] = {}
        if self.endpoint:
            kwargs["client_options"] = {"api_endpoint": self.endpoint}
        if self.anonymous:
            kwargs["credentials"] = AnonymousCredentials()  # type: ignore[no-untyped-call]
            kwargs["project"] = self.project or "keyark"
        elif self.project:
            kwargs["project"] = self.project
        return _Handle(storage.Client(**kwargs).bucket(self.container))

    @contextmanager
    def _bucket(self) -> Iterator[storage.Bucket]:
        """Lend a bucket handle whose client no other thread uses meanwhile."""
        with self._pool.lend() as handle:
            yield handle.bucket

    # -- errors ----------------------------------------------------------------------
    def _classify(self, error: Exception, what: str, *, container: bool) -> KeyarkError | None:
        where = self._where()
        if isinstance(error, gexc.NotFound):
            if container or _BUCKET_MISSING in str(error.message).lower():
                return self._missing_container()
            return self._not_found(what)
        if isinstance(error, (gexc.Unauthorized, google.auth.exceptions.RefreshError)):
            return PermanentBackendError(f"{where}: credentials rejected")
        if isinstance(error, google.auth.exceptions.DefaultCredentialsError):
            return PermanentBackendError(
                f"{where}: no Google credentials found (give a credentials file)"
            )
        if isinstance(error, gexc.Forbidden):
            return PermanentBackendError(f"{where}: access denied for {what}")
        if isinstance(error, gexc.GoogleAPICallError) and not isinstance(
            error, self.transient_errors
        ):
            if error.code == 408:
                return TransientBackendError(f"{where}: request timeout on {what}")
            return PermanentBackendError(f"{where}: HTTP {error.code} on {what}")
        return None

    # -- requests --------------------------------------------------------------------
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

    def _create(self) -> None:
        with suppress(gexc.Conflict), self._bucket() as bucket:
            bucket.client.create_bucket(bucket, retry=None, timeout=self.timeout)

    def _upload(self, name: str, key: str, data: bytes, *, overwrite: bool) -> bool:
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
            if overwrite:
                raise
            return False
        return True

    def _size(self, key: str) -> int | None:
        with self._bucket() as bucket:
            blob = bucket.get_blob(key, retry=None, timeout=self.timeout)
        return None if blob is None else int(blob.size or 0)

    def _keys(self, prefix: str) -> Iterator[tuple[str, int]]:
        with self._bucket() as bucket:
            blobs = bucket.client.list_blobs(
                bucket, prefix=prefix, retry=None, timeout=self.timeout
            )
            for blob in blobs:
                yield str(blob.name), int(blob.size or 0)

    def _remove(self, name: str, key: str) -> None:
        with self._bucket() as bucket:
            bucket.blob(key).delete(retry=None, timeout=self.timeout)

    def _release(self) -> None:
        self._pool.close()


def from_url(url: str, options: BackendOptions) -> GCSBackend:
    """Open ``gs://bucket/prefix`` (settings: ``gcs_endpoint``, ``gcs_project``,
    ``gcs_anonymous``, ``gcs_emulator``, ``gcs_credentials_file``, ``gcs_connections``,
    ``gcs_timeout``; the config resolver fills emulator, credentials file and project
    from ``STORAGE_EMULATOR_HOST``, ``GOOGLE_APPLICATION_CREDENTIALS``,
    ``GOOGLE_CLOUD_PROJECT``)."""
    bucket, prefix = GCSBackend.split_url(url)
    settings = options.settings
    endpoint = settings.get("gcs_endpoint") or None
    emulator = bool(settings.get("gcs_emulator"))
    anonymous = bool(settings.get("gcs_anonymous")) or emulator
    if endpoint and not settings.get("gcs_credentials_file"):
        anonymous = True
    return GCSBackend(
        bucket,
        prefix,
        project=settings.get("gcs_project") or None,
        endpoint=endpoint,
        anonymous=anonymous,
        connections=int(settings.get("gcs_connections", DEFAULT_CONNECTIONS)),
        timeout=float(settings.get("gcs_timeout", DEFAULT_TIMEOUT)),
    )
