"""Directory chains: which directories a path needs created, outermost first."""

from __future__ import annotations

from pathlib import Path


def missing_directories(path: Path) -> list[Path]:
    """``path`` and each of its parents that is not a directory yet, outermost first.

    Callers create them one by one with the mode they need (``mkdir(parents=True)``
    would give the parents the umask's mode) and fsync where durability asks for it.
    """
    missing: list[Path] = []
    current = path
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    missing.reverse()
    return missing


__all__ = ["missing_directories"]
