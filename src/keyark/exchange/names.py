"""What an archive's name says: the seed system's ``keys_backup_YYYYMMDD_HHMMSS`` time.

The seed's scripts named each backup by ``date +%Y%m%d_%H%M%S``: the local time of
the machine that made it. The time is read as local time of this machine (the usual
case: importing on the host that made them) and stored with its offset.
"""

from __future__ import annotations

import re
from datetime import datetime

from keyark.errors import UsageError

#: ``YYYYMMDD_HHMMSS`` (or ``YYYYMMDD-HHMMSS``, ``YYYYMMDDTHHMMSS``) anywhere in a name.
_STAMP = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})[_T-]?(\d{2})(\d{2})(\d{2})(?!\d)")
#: The suffixes an imported archive's name may carry, longest first.
_SUFFIXES = (".tar.gz.enc", ".tar.zst", ".tar.gz", ".tgz", ".tar", ".zip", ".enc")


def time_from_name(name: str) -> datetime:
    """The local time ``YYYYMMDD_HHMMSS`` in ``name`` names; UsageError if it has none."""
    found = _STAMP.search(name)
    if found is not None:
        try:
            year, month, day, hour, minute, second = (int(part) for part in found.groups())
            return datetime(year, month, day, hour, minute, second).astimezone()
        except ValueError:
            pass
    raise UsageError(
        f"{name} holds no time as YYYYMMDD_HHMMSS (keys_backup_20240716_142533.tar.gz); "
        "import it without taking the time from its name"
    )


def stem(name: str) -> str:
    """The name without its archive suffixes (``keys_backup_20240716_142533``)."""
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


__all__ = ["stem", "time_from_name"]
