"""The ``source`` corpus: a real source tree of at least 30,000 files and 500 MB.

It is a copy of three Python installations the project's machines all have, as they are
(``__pycache__``, compiled extensions and data files included):

* the running interpreter's ``site-packages`` (the project's virtual environment,
  installed from the pinned ``constraints.txt``),
* its standard library (``sysconfig.get_paths()["stdlib"]``, without ``site-packages``),
* Debian's ``/usr/lib/python3/dist-packages``.

The corpus is regenerated when the sources' file count or byte total changes (a new
pinned dependency), and refused when it would be smaller than the issue's floor.
"""

from __future__ import annotations

import os
import shutil
import stat
import sysconfig
from pathlib import Path

MIN_FILES = 30_000
MIN_BYTES = 500 * (1 << 20)


def source_dirs() -> dict[str, Path]:
    """Name in the corpus -> installation directory copied there."""
    paths = sysconfig.get_paths()
    found = {
        "site-packages": Path(paths["purelib"]),
        "stdlib": Path(paths["stdlib"]),
        "dist-packages": Path("/usr/lib/python3/dist-packages"),
    }
    return {name: path for name, path in found.items() if path.is_dir()}


def fingerprint(dirs: dict[str, Path]) -> dict[str, list[int]]:
    """(files, bytes) of each source directory, as copied (stdlib without site-packages)."""
    result: dict[str, list[int]] = {}
    for name, source in dirs.items():
        files = total = 0
        for dirpath, dirnames, filenames in os.walk(source):
            if Path(dirpath) == source and name == "stdlib":
                dirnames[:] = [d for d in dirnames if d not in ("site-packages", "dist-packages")]
            for filename in filenames:
                path = os.path.join(dirpath, filename)
                if not os.path.islink(path):
                    files += 1
                    total += os.path.getsize(path)
        result[name] = [files, total]
    return result


def copy_source_tree(root: Path, dirs: dict[str, Path]) -> None:
    """Copy every source directory under ROOT/<name> (symlinks kept as symlinks)."""
    counts = fingerprint(dirs).values()
    files = sum(n for n, _ in counts)
    size = sum(b for _, b in counts)
    if files < MIN_FILES or size < MIN_BYTES:
        raise SystemExit(
            f"the source corpus would have {files} files and {size >> 20} MiB "
            f"(needs {MIN_FILES} and {MIN_BYTES >> 20} MiB): sources {dirs}"
        )
    root.mkdir(parents=True)
    for name, source in dirs.items():

        def ignore(directory: str, names: list[str], source: Path = source) -> set[str]:
            skipped = {n for n in names if _special(Path(directory) / n)}
            if Path(directory) == source and source == dirs.get("stdlib"):
                skipped |= {n for n in names if n in ("site-packages", "dist-packages")}
            return skipped

        shutil.copytree(source, root / name, symlinks=True, ignore=ignore)


def _special(path: Path) -> bool:
    """Sockets, FIFOs and devices are not copied (copytree cannot)."""
    try:
        mode = path.lstat().st_mode
    except OSError:
        return True
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode))
