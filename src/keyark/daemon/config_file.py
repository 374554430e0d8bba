"""The config file the daemon and its verbs read (through :mod:`keyark.config.loading`).

The daemon needs the file's absolute path (a reload reads the same file; ``daemon
start`` and an installed unit pass it on), so finding and loading are two calls here:
:func:`find_config` (``--config``, ``$KEYARK_CONFIG``, then the usual places) and
:func:`load_config` (every problem at once, in one
:class:`~keyark.config.problems.ConfigFileError` whose ``problems`` the daemon logs
one per line on a failed reload).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from keyark.config.problems import ConfigNotFoundError
from keyark.errors import Hint

if TYPE_CHECKING:
    from keyark.config.document import KeyarkConfig


def look_for_config(given: str | None) -> Path | None:
    """The absolute path of the config file, or None when none is named and none exists
    (a named file that does not exist raises :class:`ConfigNotFoundError`)."""
    from keyark.config.loading import find_config_file

    path = find_config_file(given)
    return None if path is None else path.resolve()


def find_config(given: str | None) -> Path:
    """The absolute path of the config file; :class:`ConfigNotFoundError` when there is none."""
    from keyark.config.loading import search_path

    path = look_for_config(given)
    if path is None:
        looked = ", ".join(str(place) for place in search_path())
        raise ConfigNotFoundError(
            f"no config file found (looked for {looked})", hint=Hint.CONFIG_FILE
        )
    return path


def load_config(path: Path) -> KeyarkConfig:
    """The validated config of ``path``; :class:`ConfigFileError` lists every problem."""
    from keyark.config.loading import load_config_file

    return load_config_file(path)
