"""Environment variables -> the config model (the only reader of them for config).

- :func:`backend_defaults`: the settings a backend takes from the environment when
  the spec leaves them unset (these variables were read by the backends before).
- :func:`from_flags`: the CLI's global flags plus ``KEYARK_*`` variables -> a
  :class:`~keyark.config.models.RepositoryConfig`, keeping the CLI's precedence
  (flag, then variable; passphrase: ``--password-file``, ``--password-command``,
  ``KEYARK_PASSWORD``, ``KEYARK_PASSWORD_FILE``, ``KEYARK_PASSWORD_COMMAND``, prompt).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keyark.backends.registry import BackendOptions, settings_prefix
from keyark.config.backends import AzureOptions, BackendSection
from keyark.config.models import CredentialSpec, Pkcs11Spec, RepositoryConfig, RepositorySpec
from keyark.config.secrets import SecretRef
from keyark.errors import UsageError

PIN_VARIABLE = "KEYARK_PKCS11_PIN"


def environ_or_default(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    """``environ``, or the process environment when None."""
    return os.environ if environ is None else environ


def backend_defaults(
    prefix: str, section: BackendSection, environ: Mapping[str, str]
) -> dict[str, Any]:
    """Option values from the environment for the backend ``prefix`` (unset ones only)."""
    found: dict[str, Any] = {}
    if prefix == "s3":
        endpoint = environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            found["endpoint"] = endpoint
    elif prefix == "azure":
        assert isinstance(section, AzureOptions)
        if section.connection_string is None and section.account is None:
            found.update(_azure(environ))
    elif prefix == "gcs":
        found["emulator"] = True if environ.get("STORAGE_EMULATOR_HOST") else None
        found["credentials_file"] = environ.get("GOOGLE_APPLICATION_CREDENTIALS") or None
        found["project"] = environ.get("GOOGLE_CLOUD_PROJECT") or None
    elif prefix == "ftp":
        if "KEYARK_FTP_PASSWORD" in environ:
            found["password"] = SecretRef(env="KEYARK_FTP_PASSWORD")
        found["ca_file"] = environ.get("KEYARK_FTP_CA_FILE") or None
    elif prefix == "sftp":
        found["known_hosts"] = environ.get("KEYARK_SFTP_KNOWN_HOSTS") or None
        found["identity"] = environ.get("KEYARK_SFTP_IDENTITY") or None
    return {key: value for key, value in found.items() if value is not None}


def _azure(environ: Mapping[str, str]) -> dict[str, Any]:
    if environ.get("AZURE_STORAGE_CONNECTION_STRING"):
        return {"connection_string": SecretRef(env="AZURE_STORAGE_CONNECTION_STRING")}
    account = environ.get("AZURE_STORAGE_ACCOUNT")
    if not account:
        return {}
    found: dict[str, Any] = {"account": account}
    if environ.get("AZURE_STORAGE_BLOB_ENDPOINT"):
        found["blob_endpoint"] = environ["AZURE_STORAGE_BLOB_ENDPOINT"]
    if environ.get("AZURE_STORAGE_KEY"):
        found["key"] = SecretRef(env="AZURE_STORAGE_KEY")
    if environ.get("AZURE_STORAGE_SAS_TOKEN"):
        found["sas_token"] = SecretRef(env="AZURE_STORAGE_SAS_TOKEN")
    return found


@dataclass
class Flags:
    """The CLI's global flags that configure a repository (None = not given)."""

    repo: str | None = None
    #: ``--repository-file``: a file holding the repository location.
    repository_file: str | None = None
    password_file: str | None = None
    #: Not shown by ``repr()``: a command line may carry a secret.
    password_command: str | None = field(default=None, repr=False)
    cache_dir: str | None = None
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
    #: ``--no-lock``: read without writing a lock object (reading operations only).
    no_lock: bool = False


def from_flags(flags: Flags, environ: Mapping[str, str] | None = None) -> RepositoryConfig:
    """The CLI's flags and ``KEYARK_*`` variables as a :class:`RepositoryConfig`."""
    env = environ_or_default(environ)
    return RepositoryConfig(
        repository=repository_spec(flags, env),
        credentials=credential_spec(flags, env),
        cache_dir=cache_dir(flags, env),
        no_lock=flags.no_lock,
    )


def cache_dir(flags: Flags, environ: Mapping[str, str] | None = None) -> str | None:
    """``--cache-dir`` or ``KEYARK_CACHE_DIR``."""
    return flags.cache_dir or environ_or_default(environ).get("KEYARK_CACHE_DIR") or None


def named_repository(flags: Flags, environ: Mapping[str, str] | None = None) -> str | None:
    """The first of ``--repo``, ``--repository-file``, ``KEYARK_REPOSITORY``,
    ``KEYARK_REPOSITORY_FILE`` (a file holds the location); None when none is given."""
    env = environ_or_default(environ)
    if flags.repo:
        return flags.repo
    if flags.repository_file:
        return _location_in(flags.repository_file, "--repository-file")
    if env.get("KEYARK_REPOSITORY"):
        return env["KEYARK_REPOSITORY"]
    if env.get("KEYARK_REPOSITORY_FILE"):
        return _location_in(env["KEYARK_REPOSITORY_FILE"], "KEYARK_REPOSITORY_FILE")
    return None


def _location_in(file: str, source: str) -> str:
    """The repository location a file holds (surrounding white space removed)."""
    try:
        text = Path(file).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise UsageError(
            f"{source} {file}: cannot read the repository location ({reason})"
        ) from None
    if not text:
        raise UsageError(f"{source} {file}: the file is empty (it should hold the location)")
    return text


def repository_url(flags: Flags, environ: Mapping[str, str] | None = None) -> str:
    """The repository location (:func:`named_repository`); a UsageError when none is given."""
    url = named_repository(flags, environ)
    if not url:
        raise UsageError(
            "no repository given: use --repo or --repository-file, "
            "or set KEYARK_REPOSITORY or KEYARK_REPOSITORY_FILE"
        )
    return url


def flag_settings(flags: Flags, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The backend flags (or their variables) as prefixed settings, for every backend."""
    env = environ_or_default(environ)
    return {
        key: value
        for key, value in (
            ("sftp_known_hosts", flags.sftp_known_hosts or env.get("KEYARK_SFTP_KNOWN_HOSTS")),
            ("sftp_identity", flags.sftp_identity or env.get("KEYARK_SFTP_IDENTITY")),
            ("s3_endpoint", flags.s3_endpoint),
            ("ftp_ca_file", flags.ftp_ca_file or env.get("KEYARK_FTP_CA_FILE")),
        )
        if value
    }


def limits(flags: Flags, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``--limit-upload``, ``--limit-download``, ``--connections`` (or their variables)."""
    env = environ_or_default(environ)
    connections = _number(flags.connections, env.get("KEYARK_CONNECTIONS"), "--connections")
    if connections is not None and (connections < 1 or connections != int(connections)):
        raise UsageError(f"--connections {connections:g}: use a whole number of at least 1")
    return {
        "limit_upload": _number(
            flags.limit_upload, env.get("KEYARK_LIMIT_UPLOAD"), "--limit-upload"
        ),
        "limit_download": _number(
            flags.limit_download, env.get("KEYARK_LIMIT_DOWNLOAD"), "--limit-download"
        ),
        "connections": None if connections is None else int(connections),
    }


def repository_spec(flags: Flags, environ: Mapping[str, str] | None = None) -> RepositorySpec:
    """``--repo`` / ``KEYARK_REPOSITORY`` with the backend flags and limits."""
    env = environ_or_default(environ)
    url = repository_url(flags, env)
    prefix = settings_prefix(url)
    options = {
        key.removeprefix(f"{prefix}_"): value
        for key, value in flag_settings(flags, env).items()
        if key.startswith(f"{prefix}_")
    }
    fields: dict[str, Any] = {"url": url, **limits(flags, env)}
    if options:
        fields[prefix] = options
    return RepositorySpec.model_validate(fields)


def unbound_options(flags: Flags, environ: Mapping[str, str] | None = None) -> BackendOptions:
    """Backend options when no repository is named yet: every backend's flags, the limits."""
    env = environ_or_default(environ)
    given = limits(flags, env)
    return BackendOptions(
        flag_settings(flags, env),
        upload_kib_s=given["limit_upload"],
        download_kib_s=given["limit_download"],
        connections=given["connections"],
    )


def credential_spec(flags: Flags, environ: Mapping[str, str] | None = None) -> CredentialSpec:
    """Passphrase sources in the CLI's precedence, key file, PKCS#11, agent credential."""
    env = environ_or_default(environ)
    return CredentialSpec(
        passphrase=passphrase_sources(flags, env),
        key_file=flags.key_file or env.get("KEYARK_KEY_FILE") or None,
        pkcs11=pkcs11_spec(flags, env),
        agent_credential=flags.agent_credential or env.get("KEYARK_AGENT_CREDENTIAL") or None,
    )


def passphrase_sources(
    flags: Flags,
    environ: Mapping[str, str] | None = None,
    *,
    purpose: str = "repository",
    confirm: bool = False,
) -> list[SecretRef]:
    """Flag file, flag command, ``KEYARK_PASSWORD(_FILE/_COMMAND)``, then a prompt."""
    env = environ_or_default(environ)
    sources: list[SecretRef] = []
    if flags.password_file:
        sources.append(SecretRef(file=flags.password_file))
    if flags.password_command:
        sources.append(SecretRef(command=flags.password_command))
    sources.append(SecretRef(env="KEYARK_PASSWORD"))
    if env.get("KEYARK_PASSWORD_FILE"):
        sources.append(SecretRef(file=env["KEYARK_PASSWORD_FILE"]))
    if env.get("KEYARK_PASSWORD_COMMAND"):
        sources.append(SecretRef(command=env["KEYARK_PASSWORD_COMMAND"]))
    sources.append(SecretRef(prompt=f"enter passphrase for {purpose}", confirm=confirm))
    return sources


def pkcs11_spec(flags: Flags, environ: Mapping[str, str] | None = None) -> Pkcs11Spec | None:
    """``--pkcs11-*`` or ``KEYARK_PKCS11_MODULE/_TOKEN/_KEY``; the PIN: variable, then prompt."""
    env = environ_or_default(environ)
    module = flags.pkcs11_module or env.get("KEYARK_PKCS11_MODULE")
    if not module:
        if flags.pkcs11_token or flags.pkcs11_key:
            raise UsageError("--pkcs11-token and --pkcs11-key need --pkcs11-module PATH")
        return None
    token = flags.pkcs11_token or env.get("KEYARK_PKCS11_TOKEN") or None
    return Pkcs11Spec(
        module=module,
        token=token,
        key=flags.pkcs11_key or env.get("KEYARK_PKCS11_KEY") or None,
        pin=pin_sources(token),
    )


def pin_sources(token: str | None) -> list[SecretRef]:
    """``KEYARK_PKCS11_PIN``, then a terminal prompt (never a flag)."""
    return [
        SecretRef(env=PIN_VARIABLE),
        SecretRef(
            prompt=f"PKCS#11 PIN for token {token or '(from the key slot)'}",
            no_terminal=f"no PKCS#11 PIN given: set {PIN_VARIABLE} (no terminal to prompt on)",
        ),
    ]


def new_passphrase_sources(
    environ: Mapping[str, str] | None = None, *, password_file: str | None = None
) -> list[SecretRef]:
    """``--new-password-file``, ``KEYARK_NEW_PASSWORD``, ``KEYARK_NEW_PASSWORD_FILE``,
    then a confirmed prompt."""
    env = environ_or_default(environ)
    sources = [SecretRef(file=password_file)] if password_file else []
    sources.append(SecretRef(env="KEYARK_NEW_PASSWORD"))
    if env.get("KEYARK_NEW_PASSWORD_FILE"):
        sources.append(SecretRef(file=env["KEYARK_NEW_PASSWORD_FILE"]))
    sources.append(SecretRef(prompt="enter new passphrase", confirm=True))
    return sources


def source_passphrase_sources(
    password_file: str | None,
    environ: Mapping[str, str] | None = None,
    *,
    command: str | None = None,
) -> list[SecretRef]:
    """``copy``'s source: ``--from-password-file``, ``--from-password-command``,
    ``KEYARK_FROM_PASSWORD``, ``KEYARK_FROM_PASSWORD_FILE``, ``KEYARK_FROM_PASSWORD_COMMAND``."""
    env = environ_or_default(environ)
    sources = [SecretRef(file=password_file)] if password_file else []
    if command:
        sources.append(SecretRef(command=command))
    sources.append(SecretRef(env="KEYARK_FROM_PASSWORD"))
    if env.get("KEYARK_FROM_PASSWORD_FILE"):
        sources.append(SecretRef(file=env["KEYARK_FROM_PASSWORD_FILE"]))
    if env.get("KEYARK_FROM_PASSWORD_COMMAND"):
        sources.append(SecretRef(command=env["KEYARK_FROM_PASSWORD_COMMAND"]))
    return sources


def _number(flag: str | None, variable: str | None, option: str) -> float | None:
    """A positive number from ``flag`` or the variable's value; None when unset."""
    text = flag if flag is not None else variable or None
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise UsageError(f"{option} {text!r}: not a positive number")
    return value
