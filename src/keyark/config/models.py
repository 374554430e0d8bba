"""The repository spec, the credential spec and the top-level configuration.

- :class:`RepositorySpec`: where a repository is (URL) and how to reach it (one
  typed options section for its backend, bandwidth limits, connections, retries).
- :class:`CredentialSpec`: how to open it (passphrase sources in precedence order,
  key file, PKCS#11 key, write-only agent credential).
- :class:`RepositoryConfig`: both, plus the cache directory: what one face needs.
- :class:`Config`: named repositories; the config-file issue adds ``jobs`` here
  (a job names a repository of ``repositories``).

Nothing here reads the environment or a secret: :mod:`keyark.config.resolve` does.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from keyark.backends.registry import settings_prefix
from keyark.backends.retry import DEFAULT_ATTEMPTS, DEFAULT_BASE_DELAY, DEFAULT_MAX_DELAY
from keyark.config.backends import (
    OPTION_MODELS,
    AzureSection,
    BackendSection,
    FTPSection,
    GCSSection,
    LocalOptions,
    LocalSection,
    S3Section,
    SFTPSection,
)
from keyark.config.secrets import SecretRef
from keyark.redaction import redact


class BackendSections(BaseModel):
    """One optional typed section per backend (``s3:``, ``azure:``, ...): the part of a
    repository spec that every config source (flags, the API's file, jobs) shares."""

    # (Not in the docstring, which is the JSON Schema's description.) Each section's
    # model is built only when that section is given (BuiltOnUse): start-up time.
    local: LocalSection | None = None
    s3: S3Section | None = None
    azure: AzureSection | None = None
    gcs: GCSSection | None = None
    sftp: SFTPSection | None = None
    ftp: FTPSection | None = None

    def given_sections(self) -> dict[str, BackendSection]:
        """The sections that were given, by backend name."""
        found = {name: getattr(self, name) for name in OPTION_MODELS}
        return {name: value for name, value in found.items() if value is not None}


class RepositorySpec(BackendSections):
    """A repository URL plus typed options; the options of another backend are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(min_length=1)
    #: Bandwidth limits in KiB/s; None = unlimited.
    limit_upload: float | None = Field(default=None, gt=0)
    limit_download: float | None = Field(default=None, gt=0)
    #: Parallel connections of whichever backend (a section's ``connections`` wins).
    connections: int | None = Field(default=None, ge=1)
    retry_attempts: int = Field(default=DEFAULT_ATTEMPTS, ge=1)
    retry_base_delay: float = Field(default=DEFAULT_BASE_DELAY, ge=0)
    retry_max_delay: float = Field(default=DEFAULT_MAX_DELAY, ge=0)

    def __repr_args__(self) -> list[tuple[str | None, object]]:
        """As pydantic's, with a password in the URL masked."""
        return [
            (name, redact(value) if name == "url" and isinstance(value, str) else value)
            for name, value in super().__repr_args__()
        ]

    @property
    def prefix(self) -> str:
        """The settings prefix of the URL's backend (``s3``, ``local``, ...)."""
        return settings_prefix(self.url)

    @model_validator(mode="after")
    def _one_backend(self) -> RepositorySpec:
        prefix = self.prefix
        for name in OPTION_MODELS:
            if name != prefix and getattr(self, name) is not None:
                raise ValueError(f"{name} options given for a {prefix} repository ({self.url!r})")
        return self

    def section(self) -> BackendSection:
        """The options of the URL's backend (defaults when none were given)."""
        given = getattr(self, self.prefix, None) if self.prefix in OPTION_MODELS else None
        if given is not None:
            assert isinstance(given, OPTION_MODELS[self.prefix])
            return given
        return OPTION_MODELS.get(self.prefix, LocalOptions)()


def _no_sources() -> list[SecretRef]:
    """An empty source list: a field's ``default_factory``. Not ``list`` itself: pydantic
    reads a factory's signature, and a builtin's is parsed by the tokenizer, whose regex
    compiles on first use (~15 ms of every command's start-up)."""
    return []


class Pkcs11Spec(BaseModel):
    """A PKCS#11 key: module, token and key labels; the PIN from ``pin`` sources in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    module: str
    token: str | None = None
    key: str | None = None
    pin: list[SecretRef] = Field(default_factory=_no_sources)
    mechanism: str | None = None


class CredentialSpec(BaseModel):
    """How to open a repository. A key file or PKCS#11 key replaces the passphrase."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Passphrase sources, first that has one wins (the CLI: flag, env, file, command, prompt).
    passphrase: list[SecretRef] = Field(default_factory=_no_sources)
    key_file: str | None = None
    pkcs11: Pkcs11Spec | None = None
    #: A write-only agent credential file (backups only).
    agent_credential: str | None = None


class RepositoryConfig(BaseModel):
    """One repository as a face opens it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repository: RepositorySpec
    credentials: CredentialSpec = Field(default_factory=CredentialSpec)
    cache_dir: str | None = None
    #: Read without writing a lock object; operations that change the repository refuse it.
    no_lock: bool = False


class Config(BaseModel):
    """The top level of a configuration: named repositories (later also jobs)."""

    # Built on first use: a command given its repository by flags never needs it.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    repositories: dict[str, RepositoryConfig] = Field(default_factory=dict)
