"""Creating and opening repositories (repository level, used by the catalogue)."""

from __future__ import annotations

from pathlib import Path

from keyark.backends.registry import BackendOptions, open_storage
from keyark.catalog.catalog import default_cache_dir
from keyark.crypto import slots
from keyark.errors import UsageError
from keyark.repo.config import RepoConfig
from keyark.repo.repository import Repository
from keyark.repo.trust_state import TrustState
from keyark.storage import PUBLIC_KEY, open_repository_storage, persistent_settings


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
        raise UsageError("an empty passphrase is not allowed")
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
    credentials: slots.Credentials,
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


def change_passphrase(repo: Repository, new_passphrase: bytes, kdf: str = "argon2id") -> str:
    """Add a slot with ``new_passphrase``, then remove the slot used to open. Return its id."""
    if repo.root_key is None or repo.slot is None:
        raise UsageError("this key cannot change passphrases")
    if not new_passphrase:
        raise UsageError("an empty passphrase is not allowed")
    slot = slots.passphrase_slot(repo.root_key, new_passphrase, kdf)
    repo.add_slot(slot)  # durable before the old one goes
    if repo.slot.kind == slots.PASSPHRASE:
        repo.backend.delete(repo.slot.name)
    repo.slot = slot
    return slot.slot_id
