"""Azure Blob Storage backend (azure-storage-blob): ``azure://container/prefix``.

Credentials are parameters (settings ``azure_connection_string``, or ``azure_account``
with ``azure_key`` or ``azure_sas_token`` and an optional ``azure_blob_endpoint``, e.g.
an Azurite URL); the config resolver fills them from ``AZURE_STORAGE_*`` variables.

An upload is committed atomically; new objects are written with ``If-None-Match: *``
(``overwrite=False``) so an existing object is never replaced. The SDK's own
retries are disabled: :mod:`keyark.backends.retry` does that.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobServiceClient, ContainerClient

from keyark.backends.base import Capabilities, ObjectInfo, validate_name
from keyark.backends.registry import BackendOptions, secret_setting
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


def service_client(
    *,
    connection_string: str | None = None,
    account: str | None = None,
    key: str | None = None,
    sas: str | None = None,
    endpoint: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> BlobServiceClient:
    """Build a client from explicit credentials (no SDK retries)."""
    options: dict[str, Any] = {
        "retry_total": 0,
        "connection_timeout": timeout,
        "read_timeout": timeout,
    }
    try:
        if connection_string:
            return BlobServiceClient.from_connection_string(connection_string, **options)
        if account:
            endpoint = endpoint or f"https://{account}.blob.core.windows.net"
            credential: Any
            if key:
                credential = {"account_name": account, "account_key": key}
            elif sas:
                credential = sas
            else:
                raise PermanentBackendError(
                    "azure backend: AZURE_STORAGE_ACCOUNT is set but neither "
                    "AZURE_STORAGE_KEY nor AZURE_STORAGE_SAS_TOKEN"
                )
            return BlobServiceClient(account_url=endpoint, credential=credential, **options)
    except (ValueError, AzureError):
        # Never echo the error: it may quote the connection string.
        raise PermanentBackendError(
            "azure backend: malformed AZURE_STORAGE_CONNECTION_STRING or account settings"
        ) from None
    raise PermanentBackendError(
        "azure backend: no credentials (set AZURE_STORAGE_CONNECTION_STRING, or "
        "AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY)"
    )


class AzureBackend:
    """A repository under a prefix of an Azure Blob Storage container."""

    def __init__(
        self,
        container: str,
        prefix: str = "",
        *,
        service: BlobServiceClient,
        connections: int = DEFAULT_CONNECTIONS,
        list_page_size: int | None = None,
    ) -> None:
        self.container = container
        self.list_page_size = list_page_size
        self.prefix = prefix.strip("/")
        self._service = service
        self._client: ContainerClient = service.get_container_client(container)
        self._connections = max(1, connections)

    # -- description -----------------------------------------------------------------
    def location(self) -> str:
        base = f"azure://{self.container}"
        return f"{base}/{self.prefix}" if self.prefix else base

    def capabilities(self) -> Capabilities:
        return Capabilities(connections=self._connections, atomic_replace=True)

    # -- errors ----------------------------------------------------------------------
    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except KeyarkError:
            raise
        except Exception as error:
            raise self._translate(error, what) from None

    def _translate(self, error: Exception, what: str) -> KeyarkError:
        where = f"azure backend {self.location()}"
        raw_code = getattr(error, "error_code", None) or ""
        code = str(getattr(raw_code, "value", raw_code))
        status = getattr(getattr(error, "response", None), "status_code", None) or getattr(
            error, "status_code", None
        )
        if code == "ContainerNotFound":
            return ContainerNotFoundError(f"{where}: container {self.container} does not exist")
        if isinstance(error, ResourceNotFoundError):
            return NotFoundError(f"{what} not found in {self.location()}")
        if isinstance(error, ClientAuthenticationError) or code == "AuthenticationFailed":
            return PermanentBackendError(f"{where}: credentials rejected ({code or status})")
        if code == "AuthorizationFailure":
            return PermanentBackendError(
                f"{where}: credentials rejected or not authorised for {what} ({code})"
            )
        if isinstance(error, (ServiceRequestError, ServiceResponseError)):
            return TransientBackendError(f"{where}: {type(error).__name__} on {what}")
        if isinstance(error, HttpResponseError):
            if status in (408, 429) or (isinstance(status, int) and status >= 500):
                return TransientBackendError(f"{where}: {code or status} on {what}")
            if status == 403:
                return PermanentBackendError(f"{where}: access denied for {what} ({code})")
            return PermanentBackendError(f"{where}: {code or status} on {what}")
        if isinstance(error, (ConnectionError, TimeoutError)):
            return TransientBackendError(f"{where}: {type(error).__name__} on {what}")
        return PermanentBackendError(f"{where}: {type(error).__name__} on {what}")

    # -- helpers ---------------------------------------------------------------------
    def _blob(self, name: str) -> str:
        validate_name(name)
        return f"{self.prefix}/{name}" if self.prefix else name

    def _download(self, blob: str, offset: int, length: int | None) -> bytes:
        try:
            start = offset if (offset or length is not None) else None
            downloader = self._client.download_blob(
                blob, offset=start, length=length, max_concurrency=1
            )
            return downloader.readall()
        except HttpResponseError as error:
            status = getattr(error.response, "status_code", None) or error.status_code
            if status == 416:  # offset at or beyond the end of an existing blob
                return b""
            raise

    # -- operations ------------------------------------------------------------------
    def create_container(self) -> None:
        """Create the container if it is missing."""
        with self._errors(f"container {self.container}"):
            try:
                self._client.create_container()
            except ResourceExistsError:
                pass

    def put(self, name: str, data: bytes, *, overwrite: bool = False) -> None:
        blob = self._blob(name)
        with self._errors(name):
            try:
                self._client.upload_blob(
                    blob, data, length=len(data), overwrite=overwrite, max_concurrency=1
                )
            except ResourceExistsError:
                if overwrite or self._download(blob, 0, None) != data:
                    raise AlreadyExistsError(
                        f"{name} already exists in {self.location()}"
                    ) from None

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        blob = self._blob(name)
        if length is not None and length <= 0:
            self.stat(name)
            return b""
        with self._errors(name):
            return self._download(blob, offset, length)

    def stat(self, name: str) -> ObjectInfo:
        blob = self._blob(name)
        with self._errors(name):
            properties = self._client.get_blob_client(blob).get_blob_properties()
            return ObjectInfo(name, int(properties.size))

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        root = f"{self.prefix}/" if self.prefix else ""
        with self._errors(prefix or "listing"):
            items = self._client.list_blobs(
                name_starts_with=root + prefix, results_per_page=self.list_page_size
            )
            for item in items:
                yield ObjectInfo(item.name[len(root) :], int(item.size))

    def delete(self, name: str) -> None:
        blob = self._blob(name)
        with self._errors(name):
            self._client.delete_blob(blob)

    def close(self) -> None:
        try:
            self._client.close()
            self._service.close()
        except Exception:
            pass


def from_url(url: str, options: BackendOptions) -> AzureBackend:
    """Open ``azure://container/prefix`` (settings: ``azure_connections``,
    ``azure_timeout``, ``azure_list_page_size``; credentials: see :func:`service_client`)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "azure" or not parts.netloc:
        raise UsageError("an Azure repository URL looks like azure://container/prefix")
    if "@" in parts.netloc:
        raise UsageError("credentials do not belong in azure:// URLs; use AZURE_STORAGE_*")
    settings = options.settings
    service = service_client(
        connection_string=secret_setting(settings, "azure_connection_string"),
        account=settings.get("azure_account") or None,
        key=secret_setting(settings, "azure_key"),
        sas=secret_setting(settings, "azure_sas_token"),
        endpoint=settings.get("azure_blob_endpoint") or None,
        timeout=float(settings.get("azure_timeout", DEFAULT_TIMEOUT)),
    )
    return AzureBackend(
        parts.netloc,
        unquote(parts.path),
        service=service,
        connections=int(settings.get("azure_connections", DEFAULT_CONNECTIONS)),
        list_page_size=int(settings["azure_list_page_size"])
        if settings.get("azure_list_page_size")
        else None,
    )
