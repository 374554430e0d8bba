"""Typed per-backend options of a repository spec.

Each backend has one model; its field ``name`` becomes the setting
``<prefix>_<name>`` the backend's ``from_url`` reads (``s3_endpoint``,
``sftp_identity``, ...), so the models are the one list of what a backend accepts.
Unknown keys are errors (``extra="forbid"``), so a typo is reported, not ignored.
Credentials are :class:`~keyark.config.secrets.SecretRef` fields: the resolver turns
them into ``SecretStr`` values the backend receives as parameters.

Each model is built (its validator compiled) on first use, and a model holding the
sections (:class:`~keyark.config.models.BackendSections`) declares them as
``S3Section`` etc., which validate through the section's model only when a section is
given: a command on a local repository never builds the S3, Azure, GCS, SFTP or FTP
validators (issue 11, section 3: start-up time). The JSON Schema is unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationInfo,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from keyark.config.secrets import SecretRef


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

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


class BuiltOnUse:
    """A field marker: the field's value is validated by ``model``, built when a value
    first arrives (``Annotated[S3Options, BuiltOnUse(S3Options)]``), so declaring the
    field does not build the model.

    Validation is the model's own (its errors keep their location under the field, a
    model instance passes as it is); the JSON Schema is the model's, as a ``$ref`` to
    its definition, exactly as a plain ``S3Options`` field gives.
    """

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        """A plain validator calling the model (the ``ref`` keeps field titles as a
        model field's: none)."""
        model = self.model

        def validate(value: Any, info: ValidationInfo) -> BaseModel:
            return model.model_validate(value, context=info.context)

        return core_schema.with_info_plain_validator_function(
            validate, ref=f"keyark.config.built-on-use:{model.__module__}.{model.__qualname__}"
        )

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The model's schema (built now): a reference to its definition."""
        built = self.model.__pydantic_core_schema__
        definitions: list[CoreSchema] = []
        if built["type"] == "definitions":  # the model refers to others (SecretRef)
            definitions = list(built["definitions"])
            built = built["schema"]
        reference = core_schema.definition_reference_schema(built["ref"])
        return handler(core_schema.definitions_schema(reference, [built, *definitions]))


LocalSection = Annotated[LocalOptions, BuiltOnUse(LocalOptions)]
S3Section = Annotated[S3Options, BuiltOnUse(S3Options)]
AzureSection = Annotated[AzureOptions, BuiltOnUse(AzureOptions)]
GCSSection = Annotated[GCSOptions, BuiltOnUse(GCSOptions)]
SFTPSection = Annotated[SFTPOptions, BuiltOnUse(SFTPOptions)]
FTPSection = Annotated[FTPOptions, BuiltOnUse(FTPOptions)]
