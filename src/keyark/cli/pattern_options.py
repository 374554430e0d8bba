"""The exclude pattern flags, as restic has them (``backup``, ``rewrite``)."""

from __future__ import annotations

import click


def exclude_options(func: click.decorators.FC) -> click.decorators.FC:
    """``--exclude``/``-e``, ``--iexclude``, ``--exclude-file``, ``--iexclude-file`` as the
    parameters ``excludes``, ``iexcludes``, ``exclude_files``, ``iexclude_files``."""
    func = click.option(
        "--iexclude-file",
        "iexclude_files",
        multiple=True,
        metavar="FILE",
        help="--exclude-file, ignoring case.",
    )(func)
    func = click.option(
        "--exclude-file",
        "exclude_files",
        multiple=True,
        metavar="FILE",
        help="Read exclude patterns from FILE (one a line).",
    )(func)
    func = click.option(
        "--iexclude",
        "iexcludes",
        multiple=True,
        metavar="PATTERN",
        help="--exclude, ignoring case.",
    )(func)
    func = click.option(
        "-e", "--exclude", "excludes", multiple=True, metavar="PATTERN", help="Skip matching paths."
    )(func)
    return func


__all__ = ["exclude_options"]
