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
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from keyark import ops
from keyark.compress import parse_compression
from keyark.crypto.slots import Credentials
from keyark.errors import UsageError
from keyark.maintenance.check import CheckOptions
from keyark.maintenance.check import check as run_check
from keyark.redaction import child_environment, redact, register_secret
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot, SnapshotFilter
from keyark.results import BackupSummary, CheckSummary, RestoreSummary


class ManagerConfig(BaseModel):
    """The small config file ``BackupManager(config_file=...)`` reads (YAML or JSON)."""

    model_config = ConfigDict(extra="forbid")

    repository: str
    #: Exactly one passphrase source.
    password_file: str | None = None
    #: Not shown by ``repr()``: a command line may carry a secret.
    password_command: str | None = Field(default=None, repr=False)
    password_env: str | None = None
    cache_dir: str | None = None

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
        return self

    def passphrase(self) -> bytes:
        """The passphrase from the configured source (masked in keyark's logs from then on).

        A password command runs with a scrubbed environment: no passphrases, PINs or
        cloud credentials of this process reach it.
        """
        secret = self._read_passphrase()
        register_secret(secret)
        return secret

    def _read_passphrase(self) -> bytes:
        if self.password_file:
            return Path(self.password_file).expanduser().read_bytes().rstrip(b"\r\n")
        if self.password_command:
            result = subprocess.run(
                shlex.split(self.password_command),
                capture_output=True,
                check=False,
                timeout=60,
                env=child_environment(),
            )
            if result.returncode != 0:
                raise UsageError(f"password command exited with status {result.returncode}")
            return result.stdout.rstrip(b"\r\n")
        assert self.password_env is not None
        if self.password_env not in os.environ:
            raise UsageError(f"environment variable {self.password_env} is not set")
        return os.environ[self.password_env].encode()


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

    ``repr()`` never shows the password (nor a password inside the repository URL).
    """

    repository: str | None = None
    password: str | bytes | None = field(default=None, repr=False)
    config_file: str | os.PathLike[str] | None = None
    cache_dir: str | os.PathLike[str] | None = None

    def __repr__(self) -> str:
        password = "None" if self.password is None else "'***'"
        repository = None if self.repository is None else redact(self.repository)
        return (
            f"BackupManager(repository={repository!r}, password={password}, "
            f"config_file={self.config_file!r}, cache_dir={self.cache_dir!r})"
        )

    def __post_init__(self) -> None:
        if self.config_file is not None:
            config = load_config(self.config_file)
            self.repository = self.repository or config.repository
            if self.password is None:
                self.password = config.passphrase()
            if self.cache_dir is None and config.cache_dir:
                self.cache_dir = config.cache_dir
        if not self.repository:
            raise UsageError("BackupManager needs repository= or config_file=")
        if self.password is None:
            raise UsageError("BackupManager needs password= or a config file naming a source")
        register_secret(self.password)  # masked by keyark.redaction.RedactingFilter

    # ----------------------------------------------------------------- plumbing
    def _passphrase(self) -> bytes:
        assert self.password is not None
        return self.password.encode() if isinstance(self.password, str) else self.password

    def _context(self) -> ops.Context:
        return ops.Context(cache_dir=Path(self.cache_dir) if self.cache_dir else None)

    def open(self) -> Repository:
        """The lower-level :class:`Repository`, unlocked (close it when done)."""
        assert self.repository is not None
        return ops.open_repository(self.repository, Credentials(passphrase=self._passphrase()))

    def init(self) -> str:
        """Create the repository; return its id."""
        assert self.repository is not None
        repo = ops.init_repository(self.repository, self._passphrase())
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
