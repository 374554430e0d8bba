"""The global options of one invocation (:class:`Settings`), turned into :mod:`keyark.config`.

The options themselves are defined once in :mod:`keyark.cli.options` (every command
and group accepts them, before or after the verb).

The flags and their ``KEYARK_*`` variables become the config model
(:func:`keyark.config.environment.from_flags`), which the one resolver turns into
backend options and credentials. Secrets never come from a flag value: the
passphrase is read from ``KEYARK_PASSWORD``, a file (``--password-file`` /
``KEYARK_PASSWORD_FILE``), a command (``--password-command`` /
``KEYARK_PASSWORD_COMMAND``) or a prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import click

from keyark import ops
from keyark.cli.invocation import CANCEL
from keyark.cli.options import (
    SETTINGS_KEY,
    given,
    verb_path,
)
from keyark.config import environment
from keyark.config.environment import Flags
from keyark.config.models import RepositoryConfig
from keyark.config.secrets import resolve_secret
from keyark.errors import UsageError
from keyark.events import Events, EventSink
from keyark.redaction import redact


@dataclass
class Settings(Flags):
    """Merged global options of one invocation: the repository flags plus output options.

    ``repr()`` shows no secret.
    """

    #: ``--no-cache``: catalog and agent cache in memory only (applied by ``cli.main``).
    no_cache: bool = False
    #: ``key add/passwd/recover --new-password-file``.
    new_password_file: str | None = None
    #: ``copy --from-password-command``: not shown by ``repr()`` (may carry a secret).
    from_password_command: str | None = field(default=None, repr=False)
    json: bool = False
    debug: bool = False
    quiet: bool = False
    #: ``-v``/``--verbose``, counted wherever given (``keyark -v backup -v`` is 2).
    verbose: int = 0
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
            events=Events("", sink, results=self.json),
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
    """A new passphrase: ``--new-password-file``, ``KEYARK_NEW_PASSWORD``,
    ``KEYARK_NEW_PASSWORD_FILE`` or a prompt."""
    sources = environment.new_passphrase_sources(password_file=settings.new_password_file)
    return resolve_secret(sources).get_secret_value()


def settings_of(ctx: click.Context) -> Settings:
    """The global options of this invocation (built once from what the options stored).

    ``--no-lock`` on a command whose operation changes the repository is refused here,
    before anything is opened.
    """
    root = ctx.find_root()
    settings = root.meta.get(SETTINGS_KEY)
    if settings is None:
        settings = Settings(**given(ctx))
        root.meta[SETTINGS_KEY] = settings
    assert isinstance(settings, Settings)
    if settings.no_lock:
        refuse_no_lock(verb_path(ctx))
    return settings


def refuse_no_lock(verb: str) -> None:
    """A UsageError when ``verb`` runs an operation that changes the repository."""
    entry = ops.CATALOGUE.get(verb)
    if entry is not None and entry.mutates:
        raise UsageError(
            f"--no-lock is only for commands that read: '{verb}' changes the "
            "repository and needs its lock"
        )


__all__ = [
    "CANCEL",
    "Settings",
    "new_passphrase",
    "pkcs11_pin",
    "refuse_no_lock",
    "settings_of",
]
