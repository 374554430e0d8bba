"""Global options (valid before or after the verb) and where secrets come from.

Secrets never come from a flag value: the passphrase is read from
``KEYARK_PASSWORD``, a file (``--password-file`` / ``KEYARK_PASSWORD_FILE``),
a command (``--password-command`` / ``KEYARK_PASSWORD_COMMAND``) or a prompt.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import click

from keyark import ops
from keyark.backends.registry import BackendOptions
from keyark.crypto.hsm import Pkcs11Config
from keyark.crypto.slots import Credentials
from keyark.errors import UsageError
from keyark.redaction import child_environment, redact, register_secret
from keyark.repo.repository import Repository
from keyark.units import parse_seconds

F = TypeVar("F", bound=Callable[..., Any])
_KEY = "keyark.settings"


@dataclass
class Settings:
    """Merged global options of one invocation (``repr()`` shows no secret)."""

    repo: str | None = None
    password_file: str | None = None
    #: Not shown by ``repr()``: a command line may carry a secret.
    password_command: str | None = field(default=None, repr=False)
    cache_dir: str | None = None
    #: ``--no-cache``: catalog and agent cache in memory only (applied by ``cli.main``).
    no_cache: bool = False
    json: bool = False
    debug: bool = False
    quiet: bool = False
    retry_lock: str | None = None
    key_file: str | None = None
    pkcs11_module: str | None = None
    pkcs11_token: str | None = None
    pkcs11_key: str | None = None
    agent_credential: str | None = None
    sftp_known_hosts: str | None = None
    sftp_identity: str | None = None
    s3_endpoint: str | None = None
    ftp_ca_file: str | None = None
    limit_upload: str | None = None
    limit_download: str | None = None
    connections: str | None = None

    def __repr__(self) -> str:
        """The options, with a password in the repository URL masked."""
        shown = ", ".join(
            f"{item.name}={redact(repr(getattr(self, item.name)))}"
            for item in fields(self)
            if item.repr
        )
        return f"Settings({shown})"

    def repository_url(self) -> str:
        url = self.repo or os.environ.get("KEYARK_REPOSITORY")
        if not url:
            raise UsageError("no repository given: use --repo or set KEYARK_REPOSITORY")
        return url

    def context(self, warn: Callable[[str], None] | None = None) -> ops.Context:
        cache = self.cache_dir or os.environ.get("KEYARK_CACHE_DIR")
        return ops.Context(
            cache_dir=Path(cache) if cache else None,
            warn=warn,
            retry_lock=self.retry_lock_seconds(),
        )

    def retry_lock_seconds(self) -> float:
        """``--retry-lock`` in seconds (0 when not given); a bad value is a UsageError."""
        return parse_seconds(self.retry_lock) if self.retry_lock is not None else 0.0

    def backend_options(self) -> BackendOptions:
        """Backend settings from the flags (or their ``KEYARK_*`` variables)."""
        settings: dict[str, Any] = {}
        for key, value in (
            (
                "sftp_known_hosts",
                self.sftp_known_hosts or os.environ.get("KEYARK_SFTP_KNOWN_HOSTS"),
            ),
            ("sftp_identity", self.sftp_identity or os.environ.get("KEYARK_SFTP_IDENTITY")),
            ("s3_endpoint", self.s3_endpoint),
            ("ftp_ca_file", self.ftp_ca_file or os.environ.get("KEYARK_FTP_CA_FILE")),
        ):
            if value:
                settings[key] = value
        connections = _number(self.connections, "KEYARK_CONNECTIONS", "--connections")
        if connections is not None and (connections < 1 or connections != int(connections)):
            raise UsageError(f"--connections {connections:g}: use a whole number of at least 1")
        return BackendOptions(
            settings,
            upload_kib_s=_number(self.limit_upload, "KEYARK_LIMIT_UPLOAD", "--limit-upload"),
            download_kib_s=_number(
                self.limit_download, "KEYARK_LIMIT_DOWNLOAD", "--limit-download"
            ),
            connections=None if connections is None else int(connections),
        )

    # ------------------------------------------------------------- secrets
    def passphrase(self, *, confirm: bool = False, purpose: str = "repository") -> bytes:
        """The passphrase from the first source that has one (masked in logs from then on)."""
        secret = self._passphrase(confirm=confirm, purpose=purpose)
        register_secret(secret)
        return secret

    def _passphrase(self, *, confirm: bool, purpose: str) -> bytes:
        if self.password_file:
            return read_secret_file(self.password_file)
        if self.password_command:
            return _run_password_command(self.password_command)
        if "KEYARK_PASSWORD" in os.environ:
            return os.environ["KEYARK_PASSWORD"].encode()
        if os.environ.get("KEYARK_PASSWORD_FILE"):
            return read_secret_file(os.environ["KEYARK_PASSWORD_FILE"])
        if os.environ.get("KEYARK_PASSWORD_COMMAND"):
            return _run_password_command(os.environ["KEYARK_PASSWORD_COMMAND"])
        return prompt_secret(f"enter passphrase for {purpose}", confirm=confirm)

    def key_file_path(self) -> str | None:
        """``--key-file`` or ``KEYARK_KEY_FILE``."""
        return self.key_file or os.environ.get("KEYARK_KEY_FILE") or None

    def pkcs11_config(self, *, mechanism: str | None = None) -> Pkcs11Config | None:
        """The PKCS#11 options (or ``KEYARK_PKCS11_MODULE/_TOKEN/_KEY``); None without a module.

        The PIN comes only from ``KEYARK_PKCS11_PIN`` or a terminal prompt.
        """
        module = self.pkcs11_module or os.environ.get("KEYARK_PKCS11_MODULE")
        if not module:
            if self.pkcs11_token or self.pkcs11_key:
                raise UsageError("--pkcs11-token and --pkcs11-key need --pkcs11-module PATH")
            return None
        token = self.pkcs11_token or os.environ.get("KEYARK_PKCS11_TOKEN") or None
        return Pkcs11Config(
            module=module,
            token=token,
            key=self.pkcs11_key or os.environ.get("KEYARK_PKCS11_KEY") or None,
            pin=pkcs11_pin(token),
            mechanism=mechanism,
        )

    def credentials(self) -> Credentials:
        """Key material for opening: a key file and/or PKCS#11 key when given, else the passphrase.

        A key file or PKCS#11 key, when configured, replaces the passphrase, so a wrong
        key file is reported as such instead of being passed over silently.
        """
        key_file = self.key_file_path()
        pkcs11 = self.pkcs11_config()
        if key_file is None and pkcs11 is None:
            return Credentials(passphrase=self.passphrase())
        from keyark import keys  # only when a key file or HSM is in use

        return keys.credentials(key_file=key_file, pkcs11=pkcs11)

    def agent_credential_path(self) -> str | None:
        """``--agent-credential`` or ``KEYARK_AGENT_CREDENTIAL``."""
        return self.agent_credential or os.environ.get("KEYARK_AGENT_CREDENTIAL") or None

    def open_for_backup(self) -> Repository:
        """Like :meth:`open_repository`, but a write-only agent credential is accepted."""
        credential = self.agent_credential_path()
        if credential is None:
            return self.open_repository()
        from keyark.agents import open_agent_repository

        return open_agent_repository(
            self.repository_url(), Path(credential), self.backend_options()
        )

    def open_repository(self) -> Repository:
        if self.agent_credential_path() is not None:
            raise UsageError(
                "this credential can only write: only 'keyark backup' accepts an agent "
                "credential; use a passphrase or another full key to read the repository"
            )
        cache = self.cache_dir or os.environ.get("KEYARK_CACHE_DIR")
        return ops.open_repository(
            self.repository_url(),
            self.credentials(),
            self.backend_options(),
            Path(cache) if cache else None,
        )


def _number(flag: str | None, variable: str, option: str) -> float | None:
    """A positive number from ``flag`` or the environment variable; None when unset."""
    text = flag if flag is not None else os.environ.get(variable) or None
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise UsageError(f"{option} {text!r}: not a positive number")
    return value


def prompt_secret(label: str, *, confirm: bool = False) -> bytes:
    """Ask on the terminal; refuse when there is none."""
    if not sys.stdin.isatty():
        raise UsageError(
            "no passphrase given: set KEYARK_PASSWORD, KEYARK_PASSWORD_FILE or "
            "--password-command (no terminal to prompt on)"
        )
    import getpass

    first = getpass.getpass(f"{label}: ")
    if confirm and getpass.getpass(f"{label} again: ") != first:
        raise UsageError("the passphrases do not match")
    return first.encode()


def pkcs11_pin(token: str | None) -> str:
    """The PKCS#11 user PIN: ``KEYARK_PKCS11_PIN`` or a prompt (never a flag)."""
    if "KEYARK_PKCS11_PIN" in os.environ:
        return os.environ["KEYARK_PKCS11_PIN"]
    if not sys.stdin.isatty():
        raise UsageError("no PKCS#11 PIN given: set KEYARK_PKCS11_PIN (no terminal to prompt on)")
    import getpass

    pin = getpass.getpass(f"PKCS#11 PIN for token {token or '(from the key slot)'}: ")
    register_secret(pin)
    return pin


def new_passphrase(settings: Settings) -> bytes:
    """A new passphrase: ``KEYARK_NEW_PASSWORD``, ``KEYARK_NEW_PASSWORD_FILE`` or a prompt."""
    if "KEYARK_NEW_PASSWORD" in os.environ:
        return os.environ["KEYARK_NEW_PASSWORD"].encode()
    if os.environ.get("KEYARK_NEW_PASSWORD_FILE"):
        secret = read_secret_file(os.environ["KEYARK_NEW_PASSWORD_FILE"])
    else:
        secret = prompt_secret("enter new passphrase", confirm=True)
    register_secret(secret)
    return secret


def read_secret_file(path: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read passphrase file {path}: {error.strerror}") from None
    return data.rstrip(b"\r\n")


def _run_password_command(command: str) -> bytes:
    """Run ``command`` with a scrubbed environment (no passphrases, PINs or cloud secrets)."""
    try:
        result = subprocess.run(
            shlex.split(command),
            capture_output=True,
            check=False,
            timeout=60,
            env=child_environment(),
        )
    except (OSError, ValueError, subprocess.TimeoutExpired) as error:
        raise UsageError(f"password command failed to run: {error}") from None
    if result.returncode != 0:
        raise UsageError(f"password command exited with status {result.returncode}")
    return result.stdout.rstrip(b"\r\n")


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
