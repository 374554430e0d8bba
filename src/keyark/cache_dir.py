"""Where client-side state lives (catalog, agent cache, trust state), created private.

Everything under the cache directory describes the user's backups (file names,
content ids, trust records), so every directory keyark creates there is 0700 and
every file 0600, whatever the umask.
"""

from __future__ import annotations

import os
from pathlib import Path


def private_directory(path: Path) -> Path:
    """Create ``path`` and every missing parent with mode 0700; make ``path`` itself 0700.

    ``Path.mkdir(parents=True)`` would create the parents with the umask's mode
    (often 0755), letting other users list the cache.
    """
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
            os.chmod(directory, 0o700)  # whatever the umask
        except FileExistsError:
            pass
    os.chmod(path, 0o700)
    return path


def default_cache_dir() -> Path:
    """``$KEYARK_CACHE_DIR``, else ``$XDG_CACHE_HOME/keyark``, else ``~/.cache/keyark``."""
    explicit = os.environ.get("KEYARK_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "keyark"


__all__ = ["default_cache_dir", "private_directory"]
