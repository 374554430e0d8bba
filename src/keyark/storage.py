"""Storage for repositories: creating and opening them at a URL, and the settings they remember.

Some backend settings must hold for every later writer, not just for ``init``: an
S3 repository created with Object Lock must lock every object anyone writes later.
``init`` records them in the plaintext part of the repository ``config``
(``public["backend_settings"]``); :func:`open_repository_storage` reads them back
before the repository is opened and re-opens the backend with them, so no flag has
to be given again. The config bytes it decided on are returned so that
``Repository.open`` authenticates exactly those bytes (its signature covers
``public``): a config edited in storage to drop Object Lock is refused, never
obeyed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from keyark.backends.base import Backend
from keyark.backends.registry import BackendOptions, open_storage, scheme_of
from keyark.cache_dir import default_cache_dir
from keyark.crypto.slots import Credentials
from keyark.errors import NotFoundError, UsageError
from keyark.repo.config import RepoConfig
from keyark.repo.repository import Repository
from keyark.repo.state_copies import read_config_bytes
from keyark.repo.trust_state import TrustState

#: Where ``init`` records the persistent backend settings in the config's public part.
PUBLIC_KEY = "backend_settings"
#: Settings that, given to ``init``, are recorded and apply to every later open.
PERSISTENT_SETTINGS: dict[str, str] = {"s3_object_lock_days": "s3"}
#: What each persistent setting is called in messages.
SETTING_NAMES: dict[str, str] = {"s3_object_lock_days": "S3 Object Lock"}
EMPTY_PASSPHRASE = "an empty passphrase is not allowed"  # noqa: S105 (a message, not a secret)


def persistent_settings(url: str, options: BackendOptions) -> dict[str, Any]:
    """The settings of ``options`` that ``init`` must record; refuse ones that do not fit."""
    recorded: dict[str, Any] = {}
    for key, scheme in PERSISTENT_SETTINGS.items():
        value = options.settings.get(key)
        if not value:
            continue
        if scheme_of(url) != scheme:
            name = SETTING_NAMES.get(key, key)
            raise UsageError(f"{name} works only with {scheme}:// repositories")
        recorded[key] = value
    return recorded


def settings_in(config_bytes: bytes) -> dict[str, Any]:
    """The persistent backend settings a config document records."""
    document = RepoConfig.peek(config_bytes)
    public = document.get("public")
    stored = public.get(PUBLIC_KEY) if isinstance(public, dict) else None
    if not isinstance(stored, dict):
        return {}
    return {key: value for key, value in stored.items() if key in PERSISTENT_SETTINGS}


def open_repository_backend(url: str, options: BackendOptions | None = None) -> Backend:
    """Open the storage of the repository at ``url`` with the settings its config records.

    Settings given explicitly in ``options`` win over recorded ones.
    """
    return open_repository_storage(url, options)[0]


def open_repository_storage(
    url: str, options: BackendOptions | None = None
) -> tuple[Backend, bytes | None]:
    """Like :func:`open_repository_backend`; also return the config bytes read (None if absent).

    Pass the bytes to ``Repository.open(..., config_bytes=...)`` so the settings the
    backend was opened with are the ones whose signature is verified.
    """
    options = options or BackendOptions()
    backend = open_storage(url, options)
    try:
        try:
            config_bytes: bytes | None = read_config_bytes(backend)  # config.bak if damaged
        except NotFoundError:
            config_bytes = None  # opening reports the missing repository
        stored = settings_in(config_bytes) if config_bytes is not None else {}
    except BaseException:
        backend.close()
        raise
    missing = {key: value for key, value in stored.items() if key not in options.settings}
    if not missing:
        return backend, config_bytes
    backend.close()
    return open_storage(url, options.with_settings(missing)), config_bytes


def init_repository(
    url: str,
    passphrase: bytes,
    *,
    kdf: str = "argon2id",
    pack_size_mib: int = 16,
    backend_options: BackendOptions | None = None,
) -> Repository:
    """Create a repository at ``url`` protected by ``passphrase``.

    The bucket or container is created when missing. Persistent backend settings
    (S3 Object Lock) are recorded in the config and apply to every later open.
    """
    if not passphrase:
        raise UsageError(EMPTY_PASSPHRASE)
    options = backend_options or BackendOptions()
    recorded = persistent_settings(url, options)
    backend = open_storage(url, options)
    try:
        create = getattr(backend, "create_container", None)
        if callable(create):
            create()
        return Repository.init(
            backend,
            passphrase,
            kdf=kdf,
            pack_size=pack_size_mib * 1024 * 1024,
            public={PUBLIC_KEY: recorded} if recorded else None,
        )
    except BaseException:
        backend.close()
        raise


def open_repository(
    url: str,
    credentials: Credentials,
    backend_options: BackendOptions | None = None,
    cache_dir: Path | None = None,
) -> Repository:
    """Open and unlock the repository at ``url`` (with the backend settings it records).

    The config is authenticated, and what this client remembers about the repository
    (``<cache_dir>/trust/``, default cache dir when None) is checked and updated.
    """
    backend, config_bytes = open_repository_storage(url, backend_options)
    try:
        trust = None
        if config_bytes is not None:
            repo_id = RepoConfig.peek(config_bytes).get("id")
            if isinstance(repo_id, str):
                trust = TrustState.load(cache_dir or default_cache_dir(), repo_id)
        return Repository.open(backend, credentials, trust=trust, config_bytes=config_bytes)
    except BaseException:
        backend.close()
        raise


__all__ = [
    "EMPTY_PASSPHRASE",
    "PERSISTENT_SETTINGS",
    "PUBLIC_KEY",
    "init_repository",
    "open_repository",
    "open_repository_backend",
    "open_repository_storage",
    "persistent_settings",
    "settings_in",
]
