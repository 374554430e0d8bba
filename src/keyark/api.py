"""The Python API: :class:`Client` (every catalogue operation) and ``BackupManager``.

Example::

    from keyark import BackupManager

    manager = BackupManager(repository="/backups/keys", password="correct horse")
    summary = manager.create_backup(["/etc/ssl/private"], tags=["tls"])
    latest = manager.list_backups()[-1]
    manager.restore_backup(latest, "/tmp/restore", include=["*.key"])
    assert manager.check(read_data=True).ok
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast, overload

import yaml
from pydantic import ConfigDict, Field, ValidationError, model_validator

from keyark import ops
from keyark.cancel import CancelToken
from keyark.config.models import (
    BackendSections,
    CredentialSpec,
    RepositoryConfig,
    RepositorySpec,
)
from keyark.config.secrets import SecretRef, resolve_secret
from keyark.errors import UsageError
from keyark.events import EventBus, Events, EventSink
from keyark.ops import Actor, Operation, OperationContext, Result
from keyark.ops.session import Repository, open_repository
from keyark.redaction import redact, register_secret

R = TypeVar("R", bound=Result)


class ManagerConfig(BackendSections):
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
        return RepositorySpec.model_validate({"url": self.repository, **self.given_sections()})

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


class Client:
    """Every catalogue operation, with the same options and results as the CLI.

    Built from the config model every face builds: a :class:`RepositoryConfig`
    (``config=``), a YAML/JSON file (``config_file=``, see :class:`ManagerConfig`), or
    ``repository=`` and ``password=``. Each call opens the repository, runs the
    operation and closes it::

        client = Client(repository="/srv/backup/keys", password="...")
        summary = client.run("check", read_data=True)     # by name, options as keywords
        summary = client.check(read_data=True)            # the same, as a method
        summary = client.run(ops.check, ops.CheckOptions(read_data=True))  # typed

    ``events`` receives every event of every operation (progress, warnings, retries,
    lock waits); :meth:`cancel` stops the running operation at its next checkpoint
    (from another thread) with :class:`~keyark.errors.CancelledError`.
    """

    def __init__(
        self,
        config: RepositoryConfig | None = None,
        *,
        repository: str | None = None,
        password: str | bytes | None = None,
        config_file: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        events: EventSink | None = None,
        lock_wait: float = 0.0,
        actor: Actor | None = None,
    ) -> None:
        self.config = build_config(config, repository, password, config_file, cache_dir)
        self.bus = EventBus()
        if events is not None:
            self.bus.subscribe(events)
        self.lock_wait = lock_wait
        self.actor = actor or Actor.current()
        self._token = CancelToken()

    def __repr__(self) -> str:
        return f"Client(repository={redact(self.config.repository.url)!r})"

    def context(self) -> OperationContext:
        """The context the next operation runs with."""
        if self._token.cancelled:  # a cancel ends one operation, not the client
            self._token = CancelToken()
        return OperationContext(
            config=self.config,
            events=Events("", self.bus),
            cancel=self._token,
            lock_wait=self.lock_wait,
            actor=self.actor,
        )

    def cancel(self) -> None:
        """Stop the running operation at its next checkpoint (thread-safe)."""
        self._token.cancel()

    @overload
    def run(self, operation: Operation[Any, R], options: object = None, /, **fields: Any) -> R: ...

    @overload
    def run(self, operation: str, options: object = None, /, **fields: Any) -> Any: ...

    def run(
        self, operation: Operation[Any, R] | str, options: object = None, /, **fields: Any
    ) -> R | Any:
        """Run a catalogue operation: by entry or name, with options or their fields.

        By name the result is typed ``Any``; pass the entry (``ops.check``) for its type.
        """
        if isinstance(operation, str):
            if operation not in ops.CATALOGUE:
                raise UsageError(f"no operation {operation!r}; see keyark.ops.CATALOGUE")
            entry: Operation[Any, Any] = ops.CATALOGUE[operation]
        else:
            entry = operation
        if options is None:
            options = entry.options(**fields)
        elif fields:
            raise UsageError("give options or keyword fields, not both")
        return cast(R, entry(self.context(), options))

    def __getattr__(self, name: str) -> Callable[..., Any]:
        """``client.key_add(...)`` runs catalogue operation ``key add`` (any separator)."""
        wanted = _method_name(name)
        for entry_name in ops.CATALOGUE:
            if _method_name(entry_name) == wanted:
                return functools.partial(self.run, entry_name)
        raise AttributeError(f"{type(self).__name__!r} has no operation {name!r}")

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *(_method_name(n) for n in ops.CATALOGUE)})


def _method_name(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower())


def build_config(
    config: RepositoryConfig | None,
    repository: str | None,
    password: str | bytes | None,
    config_file: str | os.PathLike[str] | None,
    cache_dir: str | os.PathLike[str] | None,
) -> RepositoryConfig:
    """The config model from whichever of the API's inputs were given.

    ``config`` first, then ``config_file``; ``repository``/``password``/``cache_dir``
    override what those say. A password is registered with the log redaction filter.
    """
    spec: RepositorySpec | None = config.repository if config is not None else None
    credentials = config.credentials if config is not None else None
    cache = config.cache_dir if config is not None else None
    if config_file is not None:
        loaded = load_config(config_file)
        spec = spec or loaded.spec()
        credentials = credentials or CredentialSpec(passphrase=[loaded.source()])
        cache = cache or loaded.cache_dir
    url = repository or (spec.url if spec is not None else None)
    if not url:
        raise UsageError("no repository given: pass repository=, config= or config_file=")
    if spec is None or spec.url != url:
        spec = RepositorySpec(url=url)
    if password is not None:
        register_secret(password)  # masked by keyark.redaction.RedactingFilter
        credentials = CredentialSpec(passphrase=[SecretRef.of(password)])
    if credentials is None:
        raise UsageError("no passphrase given: pass password=, config= or config_file=")
    if cache_dir is not None:
        cache = os.fspath(cache_dir)
    return RepositoryConfig(repository=spec, credentials=credentials, cache_dir=cache)


@dataclass
class BackupManager:
    """The seed's friendly calls over :class:`Client`. Each call opens, works and closes.

    Built from ``repository=`` and ``password=``, a ``config_file=``, or a
    :class:`keyark.config.RepositoryConfig` (``config=``: typed backend options and
    any credential source, e.g. a key file or PKCS#11 key); all three become the
    same config model the CLI builds. ``repr()`` never shows the password (nor a
    password inside the repository URL). ``manager.client`` runs every other operation.
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
        self.client = Client(
            self.config,
            repository=self.repository,
            password=self.password,
            config_file=self.config_file,
            cache_dir=self.cache_dir,
        )
        self.config = self.client.config
        self.repository = self.config.repository.url
        self.cache_dir = self.config.cache_dir

    def open(self) -> Repository:
        """The lower-level :class:`keyark.Repository`, unlocked (close it when done)."""
        return open_repository(self.client.context())

    def init(self) -> str:
        """Create the repository; return its id."""
        passphrase = resolve_secret(self.client.config.credentials.passphrase)
        return self.client.run(ops.init, ops.InitOptions(passphrase.get_secret_value())).id

    def create_backup(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        tags: Sequence[str] = (),
        host: str | None = None,
        excludes: Sequence[str] = (),
        compression: str | None = None,
        dry_run: bool = False,
    ) -> ops.BackupSummary:
        """Back up ``paths``; ``summary.complete`` is False if some could not be read."""
        options = ops.BackupOptions(
            paths=[os.fspath(p) for p in paths],
            tags=list(tags),
            host=host,
            excludes=list(excludes),
            compression=compression,
            dry_run=dry_run,
        )
        return self.client.run(ops.backup, options)

    def list_backups(
        self,
        *,
        host: str | None = None,
        tags: Sequence[str] = (),
        paths: Sequence[str] = (),
        latest: int | None = None,
    ) -> list[ops.Snapshot]:
        """Snapshots, oldest first, optionally filtered."""
        selection = ops.SnapshotFilter(
            hosts=[host] if host else [],
            tags=list(tags),
            paths=[os.path.abspath(p) for p in paths],
        )
        return self.client.run(ops.snapshots, ops.SnapshotsOptions(selection, latest)).snapshots

    def restore_backup(
        self,
        snapshot: ops.Snapshot | str,
        target: str | os.PathLike[str],
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        verify: bool = False,
        overwrite: str = "always",
        at: datetime | None = None,
    ) -> ops.RestoreSummary:
        """Restore a snapshot (object, id, prefix or ``"latest"``) into ``target``."""
        ref = snapshot.id if isinstance(snapshot, ops.Snapshot) else snapshot
        options = ops.RestoreOptions(
            target=os.fspath(target),
            includes=list(include),
            excludes=list(exclude),
            verify=verify,
            overwrite=overwrite,
            snapshot=ref if at is None else None,
            at=at,
        )
        return self.client.run(ops.restore, options)

    def check(self, *, read_data: bool = False, subset: str | None = None) -> ops.CheckSummary:
        """Verify the repository; ``summary.ok`` and ``summary.problems`` say what was found."""
        return self.client.run(ops.check, ops.CheckOptions(read_data, subset))


__all__ = ["BackupManager", "Client", "ManagerConfig", "build_config", "load_config"]
