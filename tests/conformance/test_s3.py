"""S3 specifics: credentials, missing bucket, Object Lock, endpoint from the environment."""

from __future__ import annotations

import datetime as dt

import boto3
import botocore.exceptions
import pytest

from keyark.backends.registry import BackendOptions
from keyark.backends.s3 import S3Backend
from keyark.errors import NotFoundError, PermanentBackendError
from keyark.testing import CHECKS, ContractOptions

from .servers import open_backend, unique


def _s3(endpoint: str, url: str | None = None, **settings: object) -> S3Backend:
    backend = open_backend(
        url or f"s3://{unique('s3')}/repo", BackendOptions({"s3_endpoint": endpoint, **settings})
    )
    assert isinstance(backend, S3Backend)
    return backend


def test_bad_credentials_are_permanent(
    moto_with_auth: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "wJalrXUtnFEMI-not-a-real-secret"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    backend = _s3(moto_with_auth)
    for operation in (lambda: backend.put("config", b"x"), lambda: list(backend.list(""))):
        with pytest.raises(PermanentBackendError) as caught:
            operation()
        message = str(caught.value)
        assert "credentials rejected (InvalidAccessKeyId)" in message
        assert message.startswith("s3 backend s3://")
        assert secret not in message and "\n" not in message


def test_missing_bucket_is_permanent(moto_endpoint: str) -> None:
    backend = _s3(moto_endpoint)  # create_container() never called
    for operation in (
        lambda: backend.put("config", b"x"),
        lambda: backend.get("config"),
        lambda: list(backend.list("snapshots/")),
    ):
        with pytest.raises(PermanentBackendError, match=r"bucket keyark-s3-\w+ does not exist"):
            operation()


def test_create_container_is_idempotent(moto_endpoint: str) -> None:
    backend = _s3(moto_endpoint)
    backend.create_container()
    backend.create_container()
    backend.put("config", b"x")
    assert backend.get("config") == b"x"


def test_object_lock_refused_on_bucket_without_lock(moto_endpoint: str) -> None:
    name = unique("s3")
    _s3(moto_endpoint, f"s3://{name}").create_container()
    locked = _s3(moto_endpoint, f"s3://{name}", s3_object_lock_days=1)
    with pytest.raises(PermanentBackendError, match="without Object Lock"):
        locked.create_container()


def test_object_lock_enforced_by_server(moto_endpoint: str) -> None:
    bucket = unique("s3")
    backend = _s3(moto_endpoint, f"s3://{bucket}/repo", s3_object_lock_days=1)
    backend.create_container()
    assert backend.capabilities().object_lock
    backend.put("snapshots/aa", b"snapshot")
    raw = boto3.client("s3", endpoint_url=moto_endpoint)
    head = raw.head_object(Bucket=bucket, Key="repo/snapshots/aa")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    retain = head["ObjectLockRetainUntilDate"] - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=23) < retain <= dt.timedelta(days=1, minutes=5)
    # The server refuses to delete the locked version, through the backend...
    with pytest.raises(PermanentBackendError, match="access denied"):
        backend.delete("snapshots/aa")
    assert backend.get("snapshots/aa") == b"snapshot"
    # ...and directly.
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        raw.delete_object(Bucket=bucket, Key="repo/snapshots/aa", VersionId=head["VersionId"])
    with pytest.raises(NotFoundError):
        backend.delete("snapshots/missing")


@pytest.mark.parametrize(
    "check", ["put_get", "refuse_overwrite", "overwrite_replaces", "delete", "listing"]
)
def test_contract_with_object_lock(moto_endpoint: str, check: str) -> None:
    backend = _s3(moto_endpoint, s3_object_lock_days=1)
    backend.create_container()
    CHECKS[check](backend, "contract/", ContractOptions())


def test_endpoint_from_environment(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    backend = open_backend(f"s3://{unique('s3')}")
    backend.create_container()  # type: ignore[attr-defined]
    backend.put("config", b"env")
    assert backend.get("config") == b"env"
    assert backend.location().startswith("s3://keyark-s3-")


def test_url_with_credentials_refused() -> None:
    with pytest.raises(Exception, match="credentials do not belong") as caught:
        open_backend("s3://AKIA:secret@bucket/prefix")
    assert "secret" not in str(caught.value).replace("credentials", "")


def test_lock_files_exempt_from_object_lock(moto_endpoint: str) -> None:
    bucket = unique("s3")
    backend = _s3(moto_endpoint, f"s3://{bucket}", s3_object_lock_days=1)
    backend.create_container()
    backend.put("locks/0123", b"lock")
    head = boto3.client("s3", endpoint_url=moto_endpoint).head_object(
        Bucket=bucket, Key="locks/0123"
    )
    assert "ObjectLockMode" not in head
    backend.delete("locks/0123")
    assert not list(backend.list("locks/"))
