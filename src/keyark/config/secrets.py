"""Secret references and the one resolver every face uses.

A :class:`SecretRef` says *where* a secret comes from, never (except for ``value``,
which the Python API fills from an argument) the secret itself:

- ``env``: an environment variable (skipped when the variable is not set, so a
  list of references falls through to the next source);
- ``file``: a file, its trailing newline removed;
- ``command``: a command line run with a scrubbed environment (its output);
- ``prompt``: a terminal prompt with this label (refused when there is no terminal);
- ``value``: the secret given directly (``SecretBytes``, masked by ``repr()``).

:func:`resolve_secret` walks an ordered list of references and returns the first
secret found as ``SecretBytes``; every resolved secret is registered with
:mod:`keyark.redaction` so keyark's logs mask it from then on.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretBytes, model_validator

from keyark.errors import UsageError
from keyark.redaction import child_environment, register_secret

#: The message when no source gave a passphrase and there is no terminal.
NO_PASSPHRASE = (
    "no passphrase given: set KEYARK_PASSWORD, KEYARK_PASSWORD_FILE or "  # noqa: S105
    "--password-command (no terminal to prompt on)"
)


class SecretRef(BaseModel):
    """Where one secret comes from: exactly one of the fields is set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = None
    file: str | None = None
    #: Not shown by ``repr()``: a command line may carry a secret.
    command: str | None = Field(default=None, repr=False)
    prompt: str | None = None
    value: SecretBytes | None = None
    #: Ask twice (prompt only): for a new secret.
    confirm: bool = False
    #: What to say when there is no terminal to prompt on.
    no_terminal: str = NO_PASSPHRASE

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        given = [self.env, self.file, self.command, self.prompt, self.value]
        if sum(1 for item in given if item is not None) != 1:
            raise ValueError("a secret reference names exactly one of env, file, command, prompt")
        return self

    @classmethod
    def of(cls, secret: str | bytes) -> SecretRef:
        """A reference holding the secret itself (the Python API's ``password=``)."""
        return cls(value=SecretBytes(secret.encode() if isinstance(secret, str) else secret))


def resolve_secret(
    sources: SecretRef | Sequence[SecretRef],
    *,
    environ: Mapping[str, str] | None = None,
    missing: str = NO_PASSPHRASE,
) -> SecretBytes:
    """The secret of the first source that has one (registered for log redaction).

    ``environ`` defaults to the process environment; an ``env`` source whose variable
    is unset is skipped. When no source has a secret, raise :class:`UsageError` with
    ``missing``.
    """
    environment = os.environ if environ is None else environ
    for source in [sources] if isinstance(sources, SecretRef) else sources:
        secret = _read(source, environment)
        if secret is not None:
            register_secret(secret)
            return SecretBytes(secret)
    raise UsageError(missing)


def _read(source: SecretRef, environ: Mapping[str, str]) -> bytes | None:
    if source.value is not None:
        return source.value.get_secret_value()
    if source.env is not None:
        text = environ.get(source.env)
        return None if text is None else text.encode()
    if source.file is not None:
        return read_secret_file(source.file)
    if source.command is not None:
        return run_secret_command(source.command)
    assert source.prompt is not None
    return prompt_secret(source.prompt, confirm=source.confirm, no_terminal=source.no_terminal)


def read_secret_file(path: str) -> bytes:
    """The file's content without its trailing newline; a UsageError when unreadable."""
    try:
        data = Path(path).expanduser().read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read passphrase file {path}: {error.strerror}") from None
    return data.rstrip(b"\r\n")


def run_secret_command(command: str) -> bytes:
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


def prompt_secret(label: str, *, confirm: bool = False, no_terminal: str = NO_PASSPHRASE) -> bytes:
    """Ask on the terminal; refuse when there is none."""
    if not sys.stdin.isatty():
        raise UsageError(no_terminal)
    import getpass

    first = getpass.getpass(f"{label}: ")
    if confirm and getpass.getpass(f"{label} again: ") != first:
        raise UsageError("the passphrases do not match")
    return first.encode()
