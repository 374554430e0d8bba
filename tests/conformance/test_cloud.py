"""Azure Blob and Google Cloud Storage specifics: missing containers, credentials."""

from __future__ import annotations

import pytest

from keyark.backends.registry import BackendOptions
from keyark.errors import NotFoundError, PermanentBackendError

from .servers import AZURITE_ACCOUNT, open_backend, unique


def test_azure_missing_container_is_permanent(azurite_connection_string: str) -> None:
    backend = open_backend(f"azure://{unique('azure')}/repo")
    for operation in (lambda: backend.put("config", b"x"), lambda: list(backend.list(""))):
        with pytest.raises(PermanentBackendError, match=r"container keyark-azure-\w+ does not"):
            operation()


def test_azure_bad_key_is_permanent_and_secret_free(
    azurite_connection_string: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = azurite_connection_string.split("BlobEndpoint=")[1].rstrip(";")
    bad_key = "YmFkLWtleS1ub3QtYS1zZWNyZXQ="
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING")
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", AZURITE_ACCOUNT)
    monkeypatch.setenv("AZURE_STORAGE_KEY", bad_key)
    monkeypatch.setenv("AZURE_STORAGE_BLOB_ENDPOINT", endpoint)
    backend = open_backend(f"azure://{unique('azure')}")
    with pytest.raises(PermanentBackendError, match="credentials rejected") as caught:
        backend.create_container()  # type: ignore[attr-defined]
    assert bad_key not in str(caught.value)


def test_azure_account_and_key_variables(
    azurite_connection_string: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = dict(part.split("=", 1) for part in azurite_connection_string.split(";") if part)
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING")
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", fields["AccountName"])
    monkeypatch.setenv("AZURE_STORAGE_KEY", fields["AccountKey"])
    monkeypatch.setenv("AZURE_STORAGE_BLOB_ENDPOINT", fields["BlobEndpoint"])
    backend = open_backend(f"azure://{unique('azure')}/repo")
    backend.create_container()  # type: ignore[attr-defined]
    backend.put("keys/aa", b"slot")
    assert backend.get("keys/aa") == b"slot"


def test_azure_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT"):
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(PermanentBackendError, match="no credentials"):
        open_backend("azure://container")


def test_azure_malformed_connection_string_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "AccountKey=s3cr3t;garbage")
    with pytest.raises(PermanentBackendError) as caught:
        open_backend("azure://container").put("config", b"x")
    assert "s3cr3t" not in str(caught.value)


def test_gcs_missing_bucket_is_permanent(gcs_endpoint: str) -> None:
    backend = open_backend(f"gs://{unique('gcs')}/repo")
    with pytest.raises(PermanentBackendError, match=r"bucket keyark-gcs-\w+ does not exist"):
        backend.put("config", b"x")
    with pytest.raises((PermanentBackendError, NotFoundError)):
        backend.get("config")


def test_gcs_endpoint_setting(gcs_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    backend = open_backend(
        f"gs://{unique('gcs')}/repo", BackendOptions({"gcs_endpoint": gcs_endpoint})
    )
    backend.create_container()  # type: ignore[attr-defined]
    backend.put("index/aa", b"index")
    assert backend.get("index/aa", 1, 3) == b"nde"
    assert [info.name for info in backend.list("index/")] == ["index/aa"]
