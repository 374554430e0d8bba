"""Storage for repositories: settings a repository remembers, and the backend check.

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

import os
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keyark.backends.base import Backend
from keyark.backends.registry import BackendOptions, open_storage, scheme_of
from keyark.errors import NotFoundError, UsageError
from keyark.repo.config import CONFIG_NAME, RepoConfig
from keyark.repo.state_copies import read_config_bytes
from keyark.testing import ContractOptions, ContractResult, run_contract

#: Where ``init`` records the persistent backend settings in the config's public part.
PUBLIC_KEY = "backend_settings"
#: Settings that, given to ``init``, are recorded and apply to every later open.
PERSISTENT_SETTINGS: dict[str, str] = {"s3_object_lock_days": "s3"}


def persistent_settings(url: str, options: BackendOptions) -> dict[str, Any]:
    """The settings of ``options`` that ``init`` must record; refuse ones that do not fit."""
    recorded: dict[str, Any] = {}
    for key, scheme in PERSISTENT_SETTINGS.items():
        value = options.settings.get(key)
        if not value:
            continue
        if scheme_of(url) != scheme:
            flag = "--" + key.replace("_", "-")
            raise UsageError(f"{flag} works only with {scheme}:// repositories")
        recorded[key] = value
    return recorded


def recorded_settings(backend: Backend) -> dict[str, Any]:
    """The backend settings recorded in the repository config (empty without a config).

    Not authenticated by itself: use :func:`open_repository_storage` and pass the
    returned bytes to ``Repository.open``, which verifies them.
    """
    try:
        return settings_in(backend.get(CONFIG_NAME))
    except NotFoundError:
        return {}  # opening reports the missing repository


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


@dataclass
class BackendCheckReport:
    """Outcome of ``keyark backend check``: one result per contract check."""

    location: str
    results: list[ContractResult] = field(default_factory=list)
    duration_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_type": "backend_check",
            "location": self.location,
            "ok": self.ok,
            "failed": sum(1 for result in self.results if not result.ok),
            "duration_seconds": round(self.duration_seconds, 3),
            "checks": [
                {
                    "name": result.name,
                    "ok": result.ok,
                    "detail": result.detail,
                    "seconds": round(result.seconds, 3),
                }
                for result in self.results
            ],
        }


def check_backend(
    url: str,
    options: BackendOptions | None = None,
    contract: ContractOptions | None = None,
    only: Iterable[str] | None = None,
) -> BackendCheckReport:
    """Run the backend contract against ``url`` in a scratch prefix, then clean up.

    Objects outside the scratch prefix ``keyark-contract-<random>/`` are never
    touched, so this is safe on storage that already holds a repository.
    """
    started = time.monotonic()
    prefix = f"keyark-contract-{secrets.token_hex(4)}/"
    backend = open_storage(url, options)
    try:
        results = run_contract(backend, prefix, options=contract, only=only)
        location = backend.location()
    finally:
        backend.close()
    if scheme_of(url) == "file":
        _remove_empty_directories(Path(location) / prefix)
    return BackendCheckReport(location, results, time.monotonic() - started)


def _remove_empty_directories(top: Path) -> None:
    """Remove the directories a local check left behind (only empty ones)."""
    if not top.is_dir():
        return
    for directory, _subdirs, _files in sorted(os.walk(top), key=lambda e: -len(e[0])):
        try:
            os.rmdir(directory)
        except OSError:
            pass


__all__ = [
    "PERSISTENT_SETTINGS",
    "PUBLIC_KEY",
    "BackendCheckReport",
    "check_backend",
    "open_repository_backend",
    "open_repository_storage",
    "persistent_settings",
    "recorded_settings",
    "settings_in",
]
