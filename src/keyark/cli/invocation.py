"""The running command's cancel token (light to import: ``keyark.cli.main`` installs it)."""

from __future__ import annotations

from keyark.cancel import CancelToken


class _CurrentToken:
    """The cancel token of the running command (a new one per ``main()`` call)."""

    token = CancelToken()


#: ``cli.main`` installs a fresh token per run and trips it on ``SIGINT``/``SIGTERM``.
CANCEL = _CurrentToken()

__all__ = ["CANCEL"]
