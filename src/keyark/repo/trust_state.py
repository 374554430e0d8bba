"""What a client remembers about a repository it has opened (design D3).

Storage can replay an older ``keyring`` (undoing a revocation or a rotation) or
strip a recorded Object Lock setting from ``config``. Each is refused once this
client has seen the newer state. The record lives in
``<cache-dir>/trust/<repository-id>.json`` (0600 in a 0700 directory) and holds
no secret: the highest keyring version seen, whether Object Lock was ever
recorded, and the config signing public key.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from keyark.cache_dir import is_cache_failure, private_directory, warn_cache_unusable
from keyark.errors import TrustError


@dataclass
class TrustState:
    """One repository's remembered state; ``path`` None means nothing is remembered."""

    path: Path | None
    keyring_version: int = 0
    object_lock: bool = False
    config_public_key: str = ""
    _dirty: bool = field(default=False, repr=False)

    @classmethod
    def load(cls, cache_dir: Path | None, repo_id: str) -> TrustState:
        """Read the record for ``repo_id`` (a fresh one if absent or unreadable)."""
        if cache_dir is None or not repo_id.isalnum():
            return cls(None)
        path = cache_dir / "trust" / f"{repo_id}.json"
        try:
            document = json.loads(path.read_bytes())
            version = document.get("keyring_version", 0)
            lock = document.get("object_lock", False)
            public = document.get("config_public_key", "")
            if (
                not isinstance(version, int)
                or not isinstance(lock, bool)
                or not isinstance(public, str)
            ):
                raise ValueError("bad field types")
        except (OSError, ValueError, AttributeError):
            return cls(path)
        return cls(path, version, lock, public)

    def check_keyring(self, version: int) -> None:
        """Refuse a keyring older than one seen; remember a newer one."""
        if version < self.keyring_version:
            raise TrustError(
                f"the repository's keyring is version {version}, older than version "
                f"{self.keyring_version} seen before: storage may be replaying an old keyring "
                "(which would undo revocations and rotations); restore the newest keyring"
            )
        if version > self.keyring_version:
            self.keyring_version = version
            self._dirty = True

    def check_object_lock(self, recorded: bool) -> None:
        """Refuse a config whose once-recorded Object Lock setting is gone."""
        if self.object_lock and not recorded:
            raise TrustError(
                "the repository config no longer records Object Lock, which it did before: "
                "the config was altered in storage; restore it before writing anything"
            )
        if recorded and not self.object_lock:
            self.object_lock = True
            self._dirty = True

    def save(self) -> None:
        """Write the record if it changed (atomically; 0600 in a 0700 directory).

        A full or unwritable cache directory is warned about (once) and the record
        stays unsaved: the command goes on, and a later run saves it.
        """
        if self.path is None or not self._dirty:
            return
        directory = self.path.parent
        temp = directory / f".{self.path.name}.{os.getpid()}.tmp"
        try:
            private_directory(directory)  # every missing parent 0700 too
            self._write(temp)
        except OSError as error:
            temp.unlink(missing_ok=True)
            if not is_cache_failure(error):
                raise
            warn_cache_unusable(directory.parent, error, "client trust record update")
            return
        self._dirty = False

    def _write(self, temp: Path) -> None:
        assert self.path is not None
        document = {
            "keyring_version": self.keyring_version,
            "object_lock": self.object_lock,
            "config_public_key": self.config_public_key,
        }
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, self.path)
