"""Secrets kept in: what counts as a secret in the environment, redacted in logs.

Two jobs that share one notion of "secret":

- :func:`child_environment` is the environment every child process keyark
  starts gets (a ``--password-command``, a ``password_command`` of the API):
  the current one without passphrases, PINs, cloud credentials and anything
  whose name says it is a password, secret, token or PIN.
- :class:`RedactingFilter` masks secret-looking values in log records
  (``--debug`` output): the values of those environment variables, secrets
  keyark read at run time (:func:`register_secret`), AWS key ids, HTTP
  ``Authorization`` and security-token headers, ``password=``/``secret=``/
  ``token=`` pairs and passwords in URLs.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
from collections.abc import Mapping

MASK = "***"

#: Removed from a child's environment whatever their name looks like.
SECRET_VARIABLES = frozenset(
    {
        "KEYARK_PKCS11_PIN",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AZURE_STORAGE_KEY",
        "AZURE_STORAGE_ACCOUNT_KEY",
        "AZURE_STORAGE_CONNECTION_STRING",
        "AZURE_STORAGE_SAS_TOKEN",
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PASSWORD",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_OAUTH_ACCESS_TOKEN",
        "GOOGLE_CREDENTIALS",
        "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE",
    }
)
#: Any variable whose name starts with one of these is a secret (or says where one is).
SECRET_PREFIXES = ("KEYARK_PASSWORD", "KEYARK_NEW_PASSWORD", "KEYARK_FROM_PASSWORD")
#: Any variable whose name contains one of these is a secret.
SECRET_WORDS = (
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "SECRET",
    "TOKEN",
    "CREDENTIAL",
    "PRIVATE_KEY",
    "ACCESS_KEY",
    "API_KEY",
)
#: A variable with one of these as a whole ``_``-separated part is a secret
#: (``KEYARK_PKCS11_PIN``, ``SMARTCARD_PIN``; not ``PINENTRY_USER_DATA``).
SECRET_PARTS = frozenset({"PIN", "APIKEY", "SAS"})
#: Variables that name a file holding a secret: dropped for children, not masked in logs
#: (the path helps a reader; the file's content is what is secret).
PATH_SUFFIXES = ("_FILE", "_CREDENTIALS")
#: Shorter values are not masked in logs (too likely to hit ordinary text).
MIN_SECRET_LENGTH = 4

_registered: set[str] = set()
_registered_lock = threading.Lock()


def is_secret_variable(name: str) -> bool:
    """True if environment variable ``name`` holds (or names the source of) a secret."""
    upper = name.upper()
    if upper in SECRET_VARIABLES or upper.startswith(SECRET_PREFIXES):
        return True
    if any(word in upper for word in SECRET_WORDS):
        return True
    return any(part in SECRET_PARTS for part in upper.split("_"))


def child_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process: ``environ`` (default: ours) without secrets."""
    source = os.environ if environ is None else environ
    return {name: value for name, value in source.items() if not is_secret_variable(name)}


def data_source_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a data-source command (``backup --stdin-from-command``):
    ours without keyark's own secrets (passphrases, PINs, key and credential files).

    The command keeps the credentials it needs for its own work (``VAULT_TOKEN`` for
    ``vault operator raft snapshot save``, ``PGPASSWORD`` for ``pg_dump``): they are
    its inputs, not keyark's.
    """
    source = os.environ if environ is None else environ
    return {
        name: value
        for name, value in source.items()
        if not (name.upper().startswith("KEYARK_") and is_secret_variable(name))
    }


def register_secret(value: str | bytes) -> None:
    """Mask ``value`` in every log record from now on (a passphrase read at run time)."""
    text = value.decode(errors="replace") if isinstance(value, bytes) else value
    if len(text) >= MIN_SECRET_LENGTH:
        with _registered_lock:
            _registered.add(text)


def _secret_values() -> list[str]:
    values = {
        value
        for name, value in os.environ.items()
        if is_secret_variable(name)
        and not name.upper().endswith(PATH_SUFFIXES)
        and len(value) >= MIN_SECRET_LENGTH
    }
    with _registered_lock:
        values.update(_registered)
    return sorted(values, key=len, reverse=True)  # longest first: no partial leftovers


_KEYS = (
    r"authorization|proxy-authorization|x-amz-security-token|x-amz-credential|"
    r"x-amz-signature|signature|x-ms-copy-source-authorization|sig|"
    r"aws_secret_access_key|aws_session_token|secret[_-]?access[_-]?key|session[_-]?token|"
    r"security[_-]?token|access[_-]?token|refresh[_-]?token|id[_-]?token|client[_-]?secret|"
    r"account[_-]?key|accountkey|sharedaccesssignature|password|passwd|passphrase|"
    r"secret|token|pin|api[_-]?key"
)


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """The masking patterns, compiled on first use (most commands never log)."""
    #: ``'Authorization': b'AWS4-HMAC-SHA256 ...'`` and ``"password": "x y"``: the quoted value.
    quoted = re.compile(rf"(?i)(?<![a-z0-9])({_KEYS})(['\"]?\s*[:=]\s*b?)(['\"])(.*?)(\3)")
    #: ``password=x``, ``X-Amz-Security-Token=...&``, ``Authorization: Bearer x``.
    bare = re.compile(
        rf"(?i)(?<![a-z0-9])({_KEYS})(\s*[:=]\s*)(?!['\"]|b['\"]|\*\*\*)"
        rf"((?:bearer|basic|aws4-hmac-sha256)\s+)?([^\s,;&'\"}}]+)"
    )
    #: ``scheme://user:password@host``.
    url_password = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)([^@\s/]+)(@)")
    #: AWS access key ids (``AKIA...`` long-term, ``ASIA...`` temporary).
    aws_key_id = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")
    return quoted, bare, url_password, aws_key_id


def redact(text: str) -> str:
    """``text`` with every secret-looking value replaced by ``***``."""
    for value in _secret_values():
        if value in text:
            text = text.replace(value, MASK)
    quoted, bare, url_password, aws_key_id = _patterns()
    text = quoted.sub(lambda m: f"{m[1]}{m[2]}{m[3]}{MASK}{m[5]}", text)
    text = bare.sub(lambda m: f"{m[1]}{m[2]}{m[3] or ''}{MASK}", text)
    text = url_password.sub(rf"\1{MASK}\3", text)
    return aws_key_id.sub(MASK, text)


class RedactingFilter(logging.Filter):
    """A handler filter that masks secrets in the message, traceback and stack of a record.

    Attach it to a handler (not a logger) so it also sees third-party records.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the raw text only
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


__all__ = [
    "RedactingFilter",
    "child_environment",
    "is_secret_variable",
    "redact",
    "register_secret",
]
