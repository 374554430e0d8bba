"""The resolver: a spec plus the environment -> what the core and the backends receive.

Every face calls these functions; they are the only place where keyark reads the
process environment for backend settings and secrets (``environ`` defaults to it and
can be given explicitly, e.g. by a test or a server that must not use its own).

- :func:`backend_options`: a :class:`RepositorySpec` -> ``BackendOptions`` whose
  settings carry plain values and ``SecretStr`` credentials (masked by ``repr()``);
  environment defaults (``AWS_ENDPOINT_URL_S3``, ``AZURE_STORAGE_*``,
  ``KEYARK_FTP_PASSWORD``, ...) fill what the spec leaves unset.
- :func:`resolve_credentials`: a :class:`CredentialSpec` -> ``Credentials``.
- :func:`resolve_secret` (from :mod:`keyark.config.secrets`) for any other secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from keyark.backends.registry import BackendOptions
from keyark.config.backends import OPTION_MODELS, BackendSection
from keyark.config.environment import backend_defaults
from keyark.config.models import CredentialSpec, Pkcs11Spec, RepositorySpec
from keyark.config.secrets import SecretRef, resolve_secret
from keyark.crypto.slots import Credentials

if TYPE_CHECKING:
    from keyark.crypto.hsm import Pkcs11Config

_AZURE_ACCOUNT = ("azure_connection_string", "azure_account")
_AZURE_ALL = (*_AZURE_ACCOUNT, "azure_key", "azure_sas_token", "azure_blob_endpoint")
NO_PIN = "no PKCS#11 PIN given: set KEYARK_PKCS11_PIN (no terminal to prompt on)"


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def backend_section(
    spec: RepositorySpec, environ: Mapping[str, str] | None = None
) -> BackendSection:
    """The spec's options for its backend with environment defaults filled in."""
    section = spec.section()
    defaults = backend_defaults(spec.prefix, section, _environ(environ))
    if not defaults:
        return section
    model = OPTION_MODELS.get(spec.prefix, type(section))
    return model.model_validate({**defaults, **section.model_dump(exclude_unset=True)})


def backend_options(
    spec: RepositorySpec, environ: Mapping[str, str] | None = None
) -> BackendOptions:
    """What ``open_storage`` takes: settings (secrets resolved into ``SecretStr``) and limits."""
    environment = _environ(environ)
    section = backend_section(spec, environment)
    settings: dict[str, Any] = {}
    for name in type(section).model_fields:
        value = getattr(section, name)
        if value is None or (not value and name not in section.model_fields_set):
            continue
        if isinstance(value, SecretRef):
            secret = resolve_secret(value, environ=environment, missing=f"{name} not set")
            value = SecretStr(secret.get_secret_value().decode())
        settings[f"{spec.prefix}_{name}"] = value
    return BackendOptions(
        settings,
        upload_kib_s=spec.limit_upload,
        download_kib_s=spec.limit_download,
        connections=spec.connections,
        retry_attempts=spec.retry_attempts,
        retry_base_delay=spec.retry_base_delay,
        retry_max_delay=spec.retry_max_delay,
    )


def with_environment(
    url: str, options: BackendOptions | None = None, environ: Mapping[str, str] | None = None
) -> BackendOptions:
    """``options`` (raw settings, as tests and tools build them) plus environment defaults."""
    options = options or BackendOptions()
    defaults = backend_options(RepositorySpec(url=url), environ).settings
    if any(key in options.settings for key in _AZURE_ACCOUNT):
        # Explicit Azure credentials: none of the environment's may take precedence.
        defaults = {key: value for key, value in defaults.items() if key not in _AZURE_ALL}
    return options.with_settings({**defaults, **options.settings})


def resolve_pkcs11(
    spec: Pkcs11Spec, environ: Mapping[str, str] | None = None, mechanism: str | None = None
) -> Pkcs11Config:
    """The PKCS#11 config with its PIN resolved from ``spec.pin`` (in order)."""
    from keyark.crypto.hsm import Pkcs11Config  # only when a PKCS#11 key is configured

    pin = resolve_secret(spec.pin, environ=_environ(environ), missing=NO_PIN)
    return Pkcs11Config(
        module=spec.module,
        token=spec.token,
        key=spec.key,
        pin=pin.get_secret_value().decode(),
        mechanism=mechanism or spec.mechanism,
    )


def resolve_credentials(
    spec: CredentialSpec, environ: Mapping[str, str] | None = None
) -> Credentials:
    """Key material for opening: a key file and/or PKCS#11 key when given, else the passphrase.

    A key file or PKCS#11 key, when configured, replaces the passphrase, so a wrong
    key file is reported as such instead of being passed over silently.
    """
    if spec.key_file is None and spec.pkcs11 is None:
        secret = resolve_secret(spec.passphrase, environ=_environ(environ))
        return Credentials(passphrase=secret.get_secret_value())
    from keyark.crypto.credentials import credentials  # only for a key file or HSM

    pkcs11 = None if spec.pkcs11 is None else resolve_pkcs11(spec.pkcs11, environ)
    return credentials(key_file=spec.key_file, pkcs11=pkcs11)
