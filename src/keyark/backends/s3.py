"""Amazon S3 and S3-compatible backend (boto3): ``s3://bucket/prefix``.

Credentials are the settings ``s3_access_key_id`` / ``s3_secret_access_key`` /
``s3_session_token``, else the AWS SDK's default chain (profiles, instance roles);
``settings["s3_profile"]`` and ``settings["s3_region"]`` override it. The endpoint is
``settings["s3_endpoint"]`` (the config resolver fills it from ``AWS_ENDPOINT_URL_S3``
/ ``AWS_ENDPOINT_URL``); custom endpoints use path-style addressing unless
``settings["s3_addressing_style"]`` says otherwise.

A single PUT is atomic on S3; new objects are written with ``If-None-Match: *`` so
an existing object is never replaced. With ``settings["s3_object_lock_days"] = N``
the bucket is created with Object Lock and every object carries a COMPLIANCE
retention of N days, so deletes of locked objects fail at the server. Lock files
(``locks/``) are exempt: they must be removable when an operation ends.
botocore's own retries are disabled: :mod:`keyark.backends.retry` does that.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from keyark.backends.base import Capabilities
from keyark.backends.object_store import ObjectStoreBackend
from keyark.backends.registry import BackendOptions, secret_setting
from keyark.errors import (
    KeyarkError,
    PermanentBackendError,
    TransientBackendError,
    UsageError,
)

DEFAULT_CONNECTIONS = 8
#: Objects in directories of this name carry no retention even on an Object Lock bucket:
#: lock files (``locks/<id>``, also under a scratch prefix) must be deletable.
UNLOCKED_DIRECTORY = "locks"
DEFAULT_TIMEOUT = 60.0

_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "AuthorizationHeaderMalformed",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
}
_TRANSIENT_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
    "OperationAborted",
    "ConditionalRequestConflict",
}


class S3Backend(ObjectStoreBackend):
    """A repository under a prefix of an S3 bucket."""

    kind = "s3"
    scheme = "s3"
    service = "S3"
    transient_errors = (
        botocore.exceptions.ConnectionError,
        botocore.exceptions.HTTPClientError,
        botocore.exceptions.ReadTimeoutError,
        botocore.exceptions.IncompleteReadError,
        botocore.exceptions.ResponseStreamingError,
    )

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        addressing_style: str | None = None,
        object_lock_days: int = 0,
        connections: int = DEFAULT_CONNECTIONS,
        timeout: float = DEFAULT_TIMEOUT,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
    ) -> None:
        """Explicit credentials, when given, are used; otherwise the SDK's default chain."""
        super().__init__(bucket, prefix, connections)
        self.object_lock_days = object_lock_days
        if addressing_style is None and endpoint:
            addressing_style = "path"
        config = botocore.config.Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=self._connections * 2,
            connect_timeout=timeout,
            read_timeout=timeout,
            s3={"addressing_style": addressing_style or "auto"},
        )
        try:
            session = boto3.session.Session(
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
                aws_session_token=session_token,
                profile_name=profile,
                region_name=region,
            )
            self._client: Any = session.client("s3", endpoint_url=endpoint, config=config)
        except botocore.exceptions.ProfileNotFound:
            raise PermanentBackendError(
                f"{self._where()}: AWS profile {profile!r} not found"
            ) from None
        except (botocore.exceptions.BotoCoreError, ValueError) as error:
            raise PermanentBackendError(
                f"{self._where()}: cannot configure client ({type(error).__name__})"
            ) from None
        self.region = self._client.meta.region_name

    @property
    def bucket(self) -> str:
        """The bucket's name."""
        return self.container

    def capabilities(self) -> Capabilities:
        """Connections; atomic replace; Object Lock when ``object_lock_days`` is set."""
        return Capabilities(
            connections=self._connections,
            atomic_replace=True,
            object_lock=self.object_lock_days > 0,
        )

    # -- errors ----------------------------------------------------------------------
    def _classify(self, error: Exception, what: str, *, container: bool) -> KeyarkError | None:
        where = self._where()
        if isinstance(error, botocore.exceptions.ClientError):
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            if code == "NoSuchBucket":
                return self._missing_container()
            if code in ("NoSuchKey", "NotFound", "404") or status == 404:
                return self._not_found(what)
            if code in _CREDENTIAL_CODES:
                return PermanentBackendError(f"{where}: credentials rejected ({code})")
            if code in _TRANSIENT_CODES or status in (408, 429) or status >= 500:
                return TransientBackendError(f"{where}: {code or status} on {what}")
            if code in ("AccessDenied", "403") or status == 403:
                return PermanentBackendError(f"{where}: access denied for {what}")
            return PermanentBackendError(f"{where}: {code or status} on {what}")
        if isinstance(error, botocore.exceptions.NoCredentialsError):
            return PermanentBackendError(
                f"{where}: no AWS credentials found (give an access key, a profile "
                "or an instance role)"
            )
        if isinstance(error, botocore.exceptions.ParamValidationError):
            return PermanentBackendError(f"{where}: invalid request for {what}")
        if isinstance(error, botocore.exceptions.EndpointConnectionError):
            endpoint = error.kwargs.get("endpoint_url", "the endpoint")
            return TransientBackendError(f"{where}: cannot connect to {endpoint} on {what}")
        return None

    # -- requests --------------------------------------------------------------------
    def _download(self, key: str, offset: int, length: int | None) -> bytes:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if length is not None:
            kwargs["Range"] = f"bytes={offset}-{offset + length - 1}"
        elif offset:
            kwargs["Range"] = f"bytes={offset}-"
        try:
            response = self._client.get_object(**kwargs)
        except botocore.exceptions.ClientError as error:
            if _code(error) == "InvalidRange":  # offset at or beyond the end of an object
                return b""
            raise
        body = response["Body"]
        try:
            data: bytes = body.read()
        finally:
            body.close()
        return data

    def _create(self) -> None:
        """Create the bucket if it is missing (with Object Lock when configured)."""
        if not self._bucket_exists():
            kwargs: dict[str, Any] = {"Bucket": self.bucket}
            if self.region and self.region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            if self.object_lock_days > 0:
                kwargs["ObjectLockEnabledForBucket"] = True
            try:
                self._client.create_bucket(**kwargs)
            except botocore.exceptions.ClientError as error:
                code = _code(error)
                if code == "BucketAlreadyExists":
                    raise PermanentBackendError(
                        f"{self._where()}: bucket name {self.bucket} is taken by another account"
                    ) from None
                if code != "BucketAlreadyOwnedByYou":
                    raise
        if self.object_lock_days > 0:
            self.require_object_lock()

    def _bucket_exists(self) -> bool:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except botocore.exceptions.ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404:
                return False
            if status == 403:
                # HEAD responses carry no error code: ask again with a request whose
                # error names the cause (bad credentials vs. no permission).
                self._client.list_objects_v2(Bucket=self.bucket, MaxKeys=1)
                return True
            raise
        return True

    def require_object_lock(self) -> None:
        """Raise PermanentBackendError unless the bucket has Object Lock enabled (the
        repository asks for retention; the monitor's backend check asks again later)."""
        try:
            config = self._client.get_object_lock_configuration(Bucket=self.bucket)
            enabled = config.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        except botocore.exceptions.ClientError:
            enabled = None
        if enabled != "Enabled":
            raise PermanentBackendError(
                f"{self._where()}: s3_object_lock_days is set but bucket "
                f"{self.bucket} exists without Object Lock"
            )

    def _upload(self, name: str, key: str, data: bytes, *, overwrite: bool) -> bool:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": data}
        if not overwrite:
            kwargs["IfNoneMatch"] = "*"
        unlocked = name.rpartition("/")[0].rpartition("/")[2] == UNLOCKED_DIRECTORY
        if self.object_lock_days > 0 and not unlocked:
            kwargs["ObjectLockMode"] = "COMPLIANCE"
            kwargs["ObjectLockRetainUntilDate"] = dt.datetime.now(dt.UTC) + dt.timedelta(
                days=self.object_lock_days
            )
        try:
            self._client.put_object(**kwargs)
        except botocore.exceptions.ClientError as error:
            if overwrite or _code(error) != "PreconditionFailed":
                raise
            return False
        return True

    def _size(self, key: str) -> int:
        head = self._client.head_object(Bucket=self.bucket, Key=key)
        return int(head["ContentLength"])

    def _keys(self, prefix: str) -> Iterator[tuple[str, int]]:
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield str(item["Key"]), int(item["Size"])

    def _remove(self, name: str, key: str) -> None:
        head = self._client.head_object(Bucket=self.bucket, Key=key)
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        version = head.get("VersionId")
        retained = head.get("ObjectLockRetainUntilDate")
        if (self.object_lock_days > 0 or retained) and version and version != "null":
            # Delete the version itself: a locked one is refused by the server
            # instead of being hidden behind a delete marker.
            kwargs["VersionId"] = version
        try:
            self._client.delete_object(**kwargs)
        except botocore.exceptions.ClientError as error:
            if _code(error) == "AccessDenied" and isinstance(retained, dt.datetime):
                until = retained.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
                raise PermanentBackendError(
                    f"{self._where()}: access denied for deleting {name}: "
                    f"it is under S3 Object Lock retention until {until}"
                ) from None
            raise

    def _release(self) -> None:
        self._client.close()


def _code(error: botocore.exceptions.ClientError) -> str:
    """The S3 error code of a client error (``NoSuchKey``, ``PreconditionFailed``, ...)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def from_url(url: str, options: BackendOptions) -> S3Backend:
    """Open ``s3://bucket/prefix`` (settings: ``s3_endpoint``, ``s3_region``,
    ``s3_profile``, ``s3_addressing_style``, ``s3_object_lock_days``,
    ``s3_connections``, ``s3_timeout``; credentials ``s3_access_key_id`` with the
    ``SecretStr`` settings ``s3_secret_access_key`` and ``s3_session_token``, else
    the AWS SDK's default chain)."""
    bucket, prefix = S3Backend.split_url(url)
    settings = options.settings
    endpoint = settings.get("s3_endpoint") or None
    try:
        lock_days = int(settings.get("s3_object_lock_days") or 0)
    except (TypeError, ValueError):
        raise UsageError("s3_object_lock_days must be a whole number of days") from None
    if lock_days < 0:
        raise UsageError("s3_object_lock_days must not be negative")
    return S3Backend(
        bucket,
        prefix,
        endpoint=endpoint,
        region=settings.get("s3_region"),
        profile=settings.get("s3_profile"),
        addressing_style=settings.get("s3_addressing_style"),
        object_lock_days=lock_days,
        connections=int(settings.get("s3_connections", DEFAULT_CONNECTIONS)),
        timeout=float(settings.get("s3_timeout", DEFAULT_TIMEOUT)),
        access_key_id=settings.get("s3_access_key_id"),
        secret_access_key=secret_setting(settings, "s3_secret_access_key"),
        session_token=secret_setting(settings, "s3_session_token"),
    )
