"""The Python API: ``BackupManager`` over the same typed operations the CLI uses.

Example::

    from keyark import BackupManager

    manager = BackupManager(repository="/backups/keys", password="correct horse")
    summary = manager.create_backup(["/etc/ssl/private"], tags=["tls"])
    latest = manager.list_backups()[-1]
    manager.restore_backup(latest, "/tmp/restore", include=["*.key"])
    assert manager.check(read_data=True).ok
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from keyark import ops
from keyark.compress import parse_compression
from keyark.config.backends import (
    OPTION_MODELS,
    AzureOptions,
    FTPOptions,
    GCSOptions,
    LocalOptions,
    S3Options,
    SFTPOptions,
)
from keyark.config.models import CredentialSpec, RepositoryConfig, RepositorySpec
from keyark.config.resolve import backend_options, resolve_credentials
from keyark.config.secrets import SecretRef, resolve_secret
from keyark.errors import UsageError
from keyark.maintenance.check import CheckOptions
from keyark.maintenance.check import check as run_check
from keyark.redaction import redact, register_secret
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot, SnapshotFilter
from keyark.results import BackupSummary, CheckSummary, RestoreSummary


class ManagerConfig(BaseModel):
    """The small config file ``BackupManager(config_file=...)`` reads (YAML or JSON).

    It is a front for :class:`keyark.config.RepositoryConfig` (:meth:`to_config`):
    the repository URL with at most one typed backend section (``s3:``, ``azure:``,
    ``gcs:``, ``sftp:``, ``ftp:``, ``local:``), one passphrase source and a cache dir.
    """

    model_config = ConfigDict(extra="forbid")

    repository: str
    #: Exactly one passphrase source.
    password_file: str | None = None
    #: Not shown by ``repr()``: a command line may carry a secret.
    password_command: str | None = Field(default=None, repr=False)
    password_env: str | None = None
    cache_dir: str | None = None
    local: LocalOptions | None = None
    s3: S3Options | None = None
    azure: AzureOptions | None = None
    gcs: GCSOptions | None = None
    sftp: SFTPOptions | None = None
    ftp: FTPOptions | None = None

    def __repr_args__(self) -> list[tuple[str | None, object]]:
        """As pydantic's, with a password in the repository URL masked."""
        return [
            (name, redact(value) if name == "repository" and isinstance(value, str) else value)
            for name, value in super().__repr_args__()
        ]

    @model_validator(mode="after")
    def _one_source(self) -> ManagerConfig:
        sources = [self.password_file, self.password_command, self.password_env]
        if sum(1 for s in sources if s) != 1:
            raise ValueError("name exactly one of password_file, password_command, password_env")
        self.spec()  # options of another backend than the URL's are an error here
        return self

    def source(self) -> SecretRef:
        """The passphrase source as a secret reference."""
        if self.password_file:
            return SecretRef(file=self.password_file)
        if self.password_command:
            return SecretRef(command=self.password_command)
        assert self.password_env is not None
        return SecretRef(env=self.password_env)

    def spec(self) -> RepositorySpec:
        """The repository spec: URL and backend section."""
        sections = {name: getattr(self, name) for name in OPTION_MODELS}
        return RepositorySpec(
            url=self.repository,
            **{name: value for name, value in sections.items() if value is not None},
        )

    def to_config(self) -> RepositoryConfig:
        """The same model every face builds."""
        return RepositoryConfig(
            repository=self.spec(),
            credentials=CredentialSpec(passphrase=[self.source()]),
            cache_dir=self.cache_dir,
        )

    def passphrase(self) -> bytes:
        """The passphrase from the configured source (masked in keyark's logs from then on).

        A password command runs with a scrubbed environment: no passphrases, PINs or
        cloud credentials of this process reach it.
        """
        missing = f"environment variable {self.password_env} is not set"
        return resolve_secret(self.source(), missing=missing).get_secret_value()


def load_config(path: str | os.PathLike[str]) -> ManagerConfig:
    """Parse and validate a manager config file; all errors at once in one message."""
    text = Path(path).read_text()
    try:
        data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
        return ManagerConfig.model_validate(data)
    except (ValueError, yaml.YAMLError) as error:
        if isinstance(error, ValidationError):
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}"
                for e in error.errors()
            )
            raise UsageError(f"config file {path}: {problems}") from None
        raise UsageError(f"config file {path} is not valid YAML/JSON: {error}") from None


@dataclass
class BackupManager:
    """High-level access to one repository. Each call opens, works and closes.

    Built from ``repository=`` and ``password=``, a ``config_file=``, or a
    :class:`keyark.config.RepositoryConfig` (``config=``: typed backend options and
    any credential source, e.g. a key file or PKCS#11 key); all three become the
    same config model the CLI builds. ``repr()`` never shows the password (nor a
    password inside the repository URL).
    """

    repository: str | None = None
    password: str | bytes | None = field(default=None, repr=False)
    config_file: str | os.PathLike[str] | None = None
    cache_dir: str | os.PathLike[str] | None = None
    config: RepositoryConfig | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        password = "None" if self.password is None else "'***'"
        repository = None if self.repository is None else redact(self.repository)
        return (
            f"BackupManager(repository={repository!r}, password={password}, "
            f"config_file={self.config_file!r}, cache_dir={self.cache_dir!r})"
        )

    def __post_init__(self) -> None:
        spec: RepositorySpec | None = None
        if self.config is not None:
            spec = self.config.repository
            self.repository = self.repository or spec.url
            if self.cache_dir is None and self.config.cache_dir:
                self.cache_dir = self.config.cache_dir
        if self.config_file is not None:
            loaded = load_config(self.config_file)
            spec = spec or loaded.spec()
            self.repository = self.repository or loaded.repository
            if self.password is None:
                self.password = loaded.passphrase()
            if self.cache_dir is None and loaded.cache_dir:
                self.cache_dir = loaded.cache_dir
        if not self.repository:
            raise UsageError("BackupManager needs repository= or config_file=")
        if self.password is None and self.config is None:
            raise UsageError("BackupManager needs password= or a config file naming a source")
        if spec is None or spec.url != self.repository:
            spec = RepositorySpec(url=self.repository)
        credentials = self.config.credentials if self.config else CredentialSpec()
        if self.password is not None:
            register_secret(self.password)  # masked by keyark.redaction.RedactingFilter
            credentials = CredentialSpec(passphrase=[SecretRef.of(self.password)])
        self.config = RepositoryConfig(
            repository=spec,
            credentials=credentials,
            cache_dir=None if self.cache_dir is None else os.fspath(self.cache_dir),
        )

    # ----------------------------------------------------------------- plumbing
    def _spec(self) -> RepositoryConfig:
        assert self.config is not None
        return self.config

    def _passphrase(self) -> bytes:
        secret = resolve_secret(self._spec().credentials.passphrase)
        return secret.get_secret_value()

    def _context(self) -> ops.Context:
        return ops.Context(cache_dir=Path(self.cache_dir) if self.cache_dir else None)

    def open(self) -> Repository:
        """The lower-level :class:`Repository`, unlocked (close it when done)."""
        config = self._spec()
        return ops.open_repository(
            config.repository.url,
            resolve_credentials(config.credentials),
            backend_options(config.repository),
        )

    def init(self) -> str:
        """Create the repository; return its id."""
        config = self._spec()
        repo = ops.init_repository(
            config.repository.url,
            self._passphrase(),
            backend_options=backend_options(config.repository),
        )
        repo.close()
        return repo.repo_id

    # ----------------------------------------------------------------- operations
    def create_backup(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        tags: Sequence[str] = (),
        host: str | None = None,
        excludes: Sequence[str] = (),
        compression: str | None = None,
        dry_run: bool = False,
    ) -> BackupSummary:
        """Back up ``paths``; ``summary.complete`` is False if some could not be read."""
        options = ops.BackupOptions(
            tags=list(tags),
            host=host,
            excludes=list(excludes),
            compression=parse_compression(compression) if compression else None,
            dry_run=dry_run,
        )
        with self.open() as repo:
            return ops.backup(repo, [os.fspath(p) for p in paths], options, ctx=self._context())

    def list_backups(
        self,
        *,
        host: str | None = None,
        tags: Sequence[str] = (),
        paths: Sequence[str] = (),
        latest: int | None = None,
    ) -> list[Snapshot]:
        """Snapshots, oldest first, optionally filtered."""
        selection = SnapshotFilter(
            hosts=[host] if host else [],
            tags=list(tags),
            paths=[os.path.abspath(p) for p in paths],
        )
        with self.open() as repo:
            return ops.snapshots(repo, selection, latest, self._context())

    def restore_backup(
        self,
        snapshot: Snapshot | str,
        target: str | os.PathLike[str],
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        verify: bool = False,
        overwrite: str = "always",
        at: datetime | None = None,
    ) -> RestoreSummary:
        """Restore a snapshot (object, id, prefix or ``"latest"``) into ``target``."""
        options = ops.RestoreOptions(
            target=os.fspath(target),
            includes=list(include),
            excludes=list(exclude),
            verify=verify,
            overwrite=overwrite,
        )
        with self.open() as repo:
            ref = snapshot.id if isinstance(snapshot, Snapshot) else snapshot
            chosen = ops.find_snapshot(
                repo, ref if at is None else None, at=at, ctx=self._context()
            )
            return ops.restore(repo, chosen, options, ctx=self._context())

    def check(self, *, read_data: bool = False, subset: str | None = None) -> CheckSummary:
        """Verify the repository; ``summary.ok`` and ``summary.problems`` say what was found."""
        with self.open() as repo:
            return run_check(repo, CheckOptions(read_data, subset))
