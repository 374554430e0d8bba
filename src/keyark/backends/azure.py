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
from contextlib import suppress
from typing import Any

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

from keyark.backends.object_store import ObjectStoreBackend
from keyark.backends.registry import BackendOptions, secret_setting
from keyark.errors import (
    AlreadyExistsError,
    KeyarkError,
    PermanentBackendError,
    TransientBackendError,
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
                    "azure backend: an account is given but neither its key nor a SAS token"
                )
            return BlobServiceClient(account_url=endpoint, credential=credential, **options)
    except (ValueError, AzureError):
        # Never echo the error: it may quote the connection string.
        raise PermanentBackendError(
            "azure backend: malformed connection string or account settings"
        ) from None
    raise PermanentBackendError(
        "azure backend: no credentials (give a connection string, or an account "
        "with its key or a SAS token)"
    )


class AzureBackend(ObjectStoreBackend):
    """A repository under a prefix of an Azure Blob Storage container."""

    kind = "azure"
    scheme = "azure"
    container_noun = "container"
    service = "Azure"
    transient_errors = (ServiceRequestError, ServiceResponseError)

    def __init__(
        self,
        container: str,
        prefix: str = "",
        *,
        service: BlobServiceClient,
        connections: int = DEFAULT_CONNECTIONS,
        list_page_size: int | None = None,
    ) -> None:
        super().__init__(container, prefix, connections)
        self.list_page_size = list_page_size
        self._service = service
        self._client: ContainerClient = service.get_container_client(container)

    # -- errors ----------------------------------------------------------------------
    def _classify(self, error: Exception, what: str, *, container: bool) -> KeyarkError | None:
        where = self._where()
        raw_code = getattr(error, "error_code", None) or ""
        code = str(getattr(raw_code, "value", raw_code))
        status = getattr(getattr(error, "response", None), "status_code", None) or getattr(
            error, "status_code", None
        )
        if code == "ContainerNotFound":
            return self._missing_container()
        if isinstance(error, ResourceNotFoundError):
            return self._not_found(what)
        if isinstance(error, ClientAuthenticationError) or code == "AuthenticationFailed":
            return PermanentBackendError(f"{where}: credentials rejected ({code or status})")
        if code == "AuthorizationFailure":
            return PermanentBackendError(
                f"{where}: credentials rejected or not authorised for {what} ({code})"
            )
        if isinstance(error, HttpResponseError):
            if status in (408, 429) or (isinstance(status, int) and status >= 500):
                return TransientBackendError(f"{where}: {code or status} on {what}")
            if status == 403:
                return PermanentBackendError(f"{where}: access denied for {what} ({code})")
            return PermanentBackendError(f"{where}: {code or status} on {what}")
        return None

    # -- requests --------------------------------------------------------------------
    def _download(self, key: str, offset: int, length: int | None) -> bytes:
        try:
            start = offset if (offset or length is not None) else None
            downloader = self._client.download_blob(
                key, offset=start, length=length, max_concurrency=1
            )
            return downloader.readall()
        except HttpResponseError as error:
            status = getattr(error.response, "status_code", None) or error.status_code
            if status == 416:  # offset at or beyond the end of an existing blob
                return b""
            raise

    def _create(self) -> None:
        with suppress(ResourceExistsError):
            self._client.create_container()

    def _upload(self, name: str, key: str, data: bytes, *, overwrite: bool) -> bool:
        try:
            self._client.upload_blob(
                key, data, length=len(data), overwrite=overwrite, max_concurrency=1
            )
        except ResourceExistsError:
            if overwrite:
                raise AlreadyExistsError(f"{name} already exists in {self.location()}") from None
            return False
        return True

    def _size(self, key: str) -> int:
        return int(self._client.get_blob_client(key).get_blob_properties().size)

    def _keys(self, prefix: str) -> Iterator[tuple[str, int]]:
        items = self._client.list_blobs(
            name_starts_with=prefix, results_per_page=self.list_page_size
        )
        for item in items:
            yield str(item.name), int(item.size)

    def _remove(self, name: str, key: str) -> None:
        self._client.delete_blob(key)

    def _release(self) -> None:
        self._client.close()
        self._service.close()


def from_url(url: str, options: BackendOptions) -> AzureBackend:
    """Open ``azure://container/prefix`` (settings: ``azure_connections``,
    ``azure_timeout``, ``azure_list_page_size``; credentials: see :func:`service_client`)."""
    container, prefix = AzureBackend.split_url(url)
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
        container,
        prefix,
        service=service,
        connections=int(settings.get("azure_connections", DEFAULT_CONNECTIONS)),
        list_page_size=int(settings["azure_list_page_size"])
        if settings.get("azure_list_page_size")
        else None,
    )
