"""Typed per-backend options of a repository spec.

Each backend has one model; its field ``name`` becomes the setting
``<prefix>_<name>`` the backend's ``from_url`` reads (``s3_endpoint``,
``sftp_identity``, ...), so the models are the one list of what a backend accepts.
Unknown keys are errors (``extra="forbid"``), so a typo is reported, not ignored.
Credentials are :class:`~keyark.config.secrets.SecretRef` fields: the resolver turns
them into ``SecretStr`` values the backend receives as parameters.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from keyark.config.secrets import SecretRef


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Parallel connections of this backend.
    connections: int | None = Field(default=None, ge=1)


class _RemoteOptions(_Options):
    #: Seconds before a request times out.
    timeout: float | None = Field(default=None, gt=0)


class LocalOptions(_Options):
    """``/path`` or ``file:///path``."""


class S3Options(_RemoteOptions):
    """``s3://bucket/prefix``. Without ``access_key_id``, the AWS SDK's default chain applies."""

    endpoint: str | None = None
    region: str | None = None
    profile: str | None = None
    addressing_style: Literal["auto", "path", "virtual"] | None = None
    #: Days of S3 Object Lock (compliance) retention per object; 0 = none.
    object_lock_days: int = Field(default=0, ge=0)
    access_key_id: str | None = None
    secret_access_key: SecretRef | None = None
    session_token: SecretRef | None = None

    @model_validator(mode="after")
    def _key_pair(self) -> S3Options:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("access_key_id and secret_access_key go together")
        return self


class AzureOptions(_RemoteOptions):
    """``azure://container/prefix``: a connection string, or an account with a key or SAS."""

    connection_string: SecretRef | None = None
    account: str | None = None
    key: SecretRef | None = None
    sas_token: SecretRef | None = None
    blob_endpoint: str | None = None
    list_page_size: int | None = Field(default=None, ge=1)


class GCSOptions(_RemoteOptions):
    """``gs://bucket/prefix``."""

    endpoint: str | None = None
    project: str | None = None
    anonymous: bool = False
    #: An emulator is in use (``STORAGE_EMULATOR_HOST``): no credentials.
    emulator: bool = False
    #: A service-account file is configured (``GOOGLE_APPLICATION_CREDENTIALS``).
    credentials_file: str | None = None


class SFTPOptions(_RemoteOptions):
    """``sftp://user@host[:port]/path``: SSH key or agent, never a password."""

    known_hosts: str | None = None
    identity: str | None = None


class FTPOptions(_RemoteOptions):
    """``ftp[s]://user[:password]@host[:port]/path``."""

    password: SecretRef | None = None
    ca_file: str | None = None


BackendSection = LocalOptions | S3Options | AzureOptions | GCSOptions | SFTPOptions | FTPOptions

#: settings prefix (see ``keyark.backends.registry.settings_prefix``) -> options model
OPTION_MODELS: dict[str, type[BackendSection]] = {
    "local": LocalOptions,
    "s3": S3Options,
    "azure": AzureOptions,
    "gcs": GCSOptions,
    "sftp": SFTPOptions,
    "ftp": FTPOptions,
}
