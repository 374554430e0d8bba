"""One configuration and secret model for every face (CLI, Python API, later daemon/server).

Layers:

- :mod:`keyark.config.secrets`: :class:`SecretRef` (env variable, file, command,
  prompt, or a given value) and :func:`resolve_secret`, the one secret resolver.
- :mod:`keyark.config.backends`: typed per-backend options (S3, Azure, GCS, SFTP,
  FTP, local); unknown keys are validation errors.
- :mod:`keyark.config.models`: :class:`RepositorySpec` (URL + options + limits),
  :class:`CredentialSpec` (passphrase sources, key file, PKCS#11, agent credential),
  :class:`RepositoryConfig` (both + cache directory) and :class:`Config`
  (``repositories: dict[str, RepositoryConfig]``).
- :mod:`keyark.config.document`: :class:`KeyarkConfig`, the config file (``keyark.yaml``:
  repositories, jobs, maintenance, scheduler, monitor, notifications);
  :mod:`keyark.config.loading` finds and loads it (every problem with path and line).
- :mod:`keyark.config.environment`: environment variables and CLI flags -> the model.
- :mod:`keyark.config.resolve`: model (+ environment) -> ``BackendOptions`` with
  ``SecretStr`` credentials and ``Credentials``: what the core and backends receive.

Backends never read the environment: they get credentials and settings as
parameters, so one process can serve two S3 or Azure accounts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keyark.exports import lazy_exports

if TYPE_CHECKING:
    from keyark.config.backends import (
        AzureOptions,
        FTPOptions,
        GCSOptions,
        LocalOptions,
        S3Options,
        SFTPOptions,
    )
    from keyark.config.document import JobSpec, KeyarkConfig, RepositoryEntry
    from keyark.config.loading import config_from_option, find_config_file, load_config_file
    from keyark.config.models import (
        Config,
        CredentialSpec,
        Pkcs11Spec,
        RepositoryConfig,
        RepositorySpec,
    )
    from keyark.config.problems import ConfigFileError, ConfigNotFoundError, ConfigProblem
    from keyark.config.resolve import (
        backend_options,
        resolve_credentials,
        resolve_pkcs11,
        with_environment,
    )
    from keyark.config.secrets import SecretRef, resolve_secret

#: Each name -> the module defining it: imported on first use, so a face that needs
#: only the models (or only ``environment``) does not load the resolver and its crypto.
_EXPORTS = {
    "AzureOptions": "keyark.config.backends",
    "FTPOptions": "keyark.config.backends",
    "GCSOptions": "keyark.config.backends",
    "LocalOptions": "keyark.config.backends",
    "S3Options": "keyark.config.backends",
    "SFTPOptions": "keyark.config.backends",
    "Config": "keyark.config.models",
    "CredentialSpec": "keyark.config.models",
    "Pkcs11Spec": "keyark.config.models",
    "RepositoryConfig": "keyark.config.models",
    "RepositorySpec": "keyark.config.models",
    "backend_options": "keyark.config.resolve",
    "resolve_credentials": "keyark.config.resolve",
    "resolve_pkcs11": "keyark.config.resolve",
    "with_environment": "keyark.config.resolve",
    "SecretRef": "keyark.config.secrets",
    "resolve_secret": "keyark.config.secrets",
    "JobSpec": "keyark.config.document",
    "KeyarkConfig": "keyark.config.document",
    "RepositoryEntry": "keyark.config.document",
    "config_from_option": "keyark.config.loading",
    "find_config_file": "keyark.config.loading",
    "load_config_file": "keyark.config.loading",
    "ConfigFileError": "keyark.config.problems",
    "ConfigNotFoundError": "keyark.config.problems",
    "ConfigProblem": "keyark.config.problems",
}

if not TYPE_CHECKING:  # for type checkers each name is imported above
    __getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = [
    "AzureOptions",
    "Config",
    "ConfigFileError",
    "ConfigNotFoundError",
    "ConfigProblem",
    "CredentialSpec",
    "FTPOptions",
    "GCSOptions",
    "JobSpec",
    "KeyarkConfig",
    "LocalOptions",
    "Pkcs11Spec",
    "RepositoryConfig",
    "RepositoryEntry",
    "RepositorySpec",
    "S3Options",
    "SFTPOptions",
    "SecretRef",
    "backend_options",
    "config_from_option",
    "find_config_file",
    "load_config_file",
    "resolve_credentials",
    "resolve_pkcs11",
    "resolve_secret",
    "with_environment",
]
