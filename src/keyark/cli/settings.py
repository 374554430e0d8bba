"""Global options (valid before or after the verb), turned into :mod:`keyark.config`.

The flags and their ``KEYARK_*`` variables become the config model
(:func:`keyark.config.environment.from_flags`), which the one resolver turns into
backend options and credentials. Secrets never come from a flag value: the
passphrase is read from ``KEYARK_PASSWORD``, a file (``--password-file`` /
``KEYARK_PASSWORD_FILE``), a command (``--password-command`` /
``KEYARK_PASSWORD_COMMAND``) or a prompt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

import click

from keyark import ops
from keyark.cancel import CancelToken
from keyark.config import environment
from keyark.config.environment import Flags
from keyark.config.models import RepositoryConfig
from keyark.config.secrets import resolve_secret
from keyark.events import Events, EventSink
from keyark.redaction import redact

F = TypeVar("F", bound=Callable[..., Any])


class _CurrentToken:
    """The cancel token of the running command (a new one per ``main()`` call)."""

    token = CancelToken()


#: ``cli.main`` installs a fresh token per run and trips it on ``SIGINT``/``SIGTERM``.
CANCEL = _CurrentToken()
_KEY = "keyark.settings"


@dataclass
class Settings(Flags):
    """Merged global options of one invocation: the repository flags plus output options.

    ``repr()`` shows no secret.
    """

    #: ``--no-cache``: catalog and agent cache in memory only (applied by ``cli.main``).
    no_cache: bool = False
    json: bool = False
    debug: bool = False
    quiet: bool = False
    retry_lock: str | None = None

    def __repr__(self) -> str:
        """The options, with a password in the repository URL masked."""
        shown = ", ".join(
            f"{item.name}={redact(repr(getattr(self, item.name)))}"
            for item in fields(self)
            if item.repr
        )
        return f"Settings({shown})"

    def config(self) -> RepositoryConfig:
        """The flags and ``KEYARK_*`` variables as the config model (every face's model)."""
        return environment.from_flags(self)

    def operation_context(
        self, sink: EventSink | None = None, *, repository: str | None = None
    ) -> ops.OperationContext:
        """The context every operation of this invocation runs with.

        ``sink`` is the command's event renderer (``Output.event``); ``repository`` is
        another location than ``--repo`` (the URL of ``backend check``); the cancel token
        is the one ``SIGINT``/``SIGTERM`` trip (:data:`CANCEL`).
        """
        flags = self if repository is None else replace(self, repo=repository)
        return ops.OperationContext(
            config=flags.config(),
            events=Events("", sink),
            cancel=CANCEL.token,
            lock_wait=self.retry_lock_seconds(),
        )

    def retry_lock_seconds(self) -> float:
        """``--retry-lock`` in seconds (0 when not given); a bad value is a UsageError."""
        if self.retry_lock is None:
            return 0.0
        return ops.parse_seconds(self.retry_lock, "--retry-lock")

    # ------------------------------------------------------------- secrets
    def passphrase(self, *, confirm: bool = False, purpose: str = "repository") -> bytes:
        """The passphrase from the first source that has one (masked in logs from then on)."""
        sources = environment.passphrase_sources(self, purpose=purpose, confirm=confirm)
        return resolve_secret(sources).get_secret_value()


def pkcs11_pin(token: str | None) -> str:
    """The PKCS#11 user PIN: ``KEYARK_PKCS11_PIN`` or a prompt (never a flag)."""
    return resolve_secret(environment.pin_sources(token)).get_secret_value().decode()


def new_passphrase(settings: Settings) -> bytes:
    """A new passphrase: ``KEYARK_NEW_PASSWORD``, ``KEYARK_NEW_PASSWORD_FILE`` or a prompt."""
    return resolve_secret(environment.new_passphrase_sources()).get_secret_value()


def settings_of(ctx: click.Context) -> Settings:
    root = ctx.find_root()
    settings = root.meta.get(_KEY)
    if settings is None:
        settings = Settings()
        root.meta[_KEY] = settings
    assert isinstance(settings, Settings)
    return settings


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is None or value is False or value == ():
        return
    assert param.name is not None
    setattr(settings_of(ctx), param.name, value)


def global_options(func: F) -> F:
    """Attach the global options to the group and to every verb."""
    return _attach(func, ())


def global_options_except(*names: str) -> Callable[[F], F]:
    """Like :func:`global_options` but without ``names`` (a verb's own options of that name)."""

    def decorate(func: F) -> F:
        return _attach(func, names)

    return decorate


def _attach(func: F, skip: tuple[str, ...]) -> F:
    named = [
        click.option("-r", "--repo", help="Repository location (or KEYARK_REPOSITORY)."),
        click.option("--password-file", metavar="FILE", help="Read the passphrase from FILE."),
        click.option("--password-command", metavar="CMD", help="Run CMD to get the passphrase."),
        click.option("--cache-dir", metavar="DIR", help="Local cache directory."),
        click.option(
            "--no-cache", is_flag=True, help="Keep the catalog and caches in memory only."
        ),
        click.option("--retry-lock", metavar="DURATION", help="Retry a held lock for DURATION."),
        click.option(
            "--agent-credential", metavar="FILE", help="Write-only agent credential (backup only)."
        ),
        click.option("--json", "json", is_flag=True, help="Machine-readable output."),
        click.option("-q", "--quiet", is_flag=True, help="Only errors."),
        click.option("--debug", is_flag=True, help="Log details and show tracebacks."),
        click.option(
            "--key-file", metavar="PATH", help="Open with this key file (or KEYARK_KEY_FILE)."
        ),
        click.option("--pkcs11-module", metavar="PATH", help="Open with a PKCS#11 key: module."),
        click.option("--pkcs11-token", metavar="LABEL", help="PKCS#11 token label."),
        click.option("--pkcs11-key", metavar="LABEL", help="PKCS#11 key label."),
        click.option(
            "--sftp-known-hosts",
            metavar="FILE",
            help="SFTP: trusted host keys (~/.ssh/known_hosts).",
        ),
        click.option("--sftp-identity", metavar="FILE", help="SFTP: private key to log in with."),
        click.option(
            "--s3-endpoint", metavar="URL", help="S3: endpoint of an S3-compatible store."
        ),
        click.option("--ftp-ca-file", metavar="FILE", help="FTPS: trusted CA certificate(s)."),
        click.option(
            "--limit-upload", metavar="KiB/s", help="Upload bandwidth limit (KEYARK_LIMIT_UPLOAD)."
        ),
        click.option(
            "--limit-download",
            metavar="KiB/s",
            help="Download bandwidth limit (KEYARK_LIMIT_DOWNLOAD).",
        ),
        click.option(
            "--connections", metavar="N", help="Parallel backend connections (KEYARK_CONNECTIONS)."
        ),
    ]
    options = [option for option in named if _option_name(option) not in skip]
    for option in reversed(options):
        func = option(func)
    for param in getattr(func, "__click_params__", [])[-len(options) :]:
        param.expose_value = False
        param.callback = _store
        param.is_eager = True
    return func


def _option_name(option: Callable[[Any], Any]) -> str:
    """The parameter name a ``click.option`` decorator would create."""
    probe: Any = option(lambda: None)
    return str(probe.__click_params__[-1].name)
