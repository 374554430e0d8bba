"""The exclude pattern flags, as restic has them (``backup``, ``rewrite``, ``restore``).

A verb decorated with :func:`exclude_options` takes one parameter, ``excluded`` (an
:class:`ExcludeFlags`), instead of the four flags' values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

import click

R = TypeVar("R")


@dataclass(frozen=True)
class ExcludeFlags:
    """The exclude patterns given (restic's ``excludePatternOptions``)."""

    #: ``-e``/``--exclude``: skip matching paths.
    excludes: list[str]
    #: ``--iexclude``: the same, ignoring case.
    iexcludes: list[str]
    #: ``--exclude-file``: files of exclude patterns, one a line.
    exclude_files: list[str]
    #: ``--iexclude-file``: the same, ignoring case.
    iexclude_files: list[str]


#: The group's flags, in the order ``--help`` lists them.
_FLAGS = (
    click.option(
        "-e", "--exclude", "excludes", multiple=True, metavar="PATTERN", help="Skip matching paths."
    ),
    click.option(
        "--iexclude",
        "iexcludes",
        multiple=True,
        metavar="PATTERN",
        help="--exclude, ignoring case.",
    ),
    click.option(
        "--exclude-file",
        "exclude_files",
        multiple=True,
        metavar="FILE",
        help="Read exclude patterns from FILE (one a line).",
    ),
    click.option(
        "--iexclude-file",
        "iexclude_files",
        multiple=True,
        metavar="FILE",
        help="--exclude-file, ignoring case.",
    ),
)


def exclude_options(verb: Callable[..., R]) -> Callable[..., R]:
    """Add ``--exclude``/``-e``, ``--iexclude``, ``--exclude-file`` and ``--iexclude-file``
    to ``verb``, which receives them as one ``excluded`` (:class:`ExcludeFlags`)."""

    @wraps(verb)
    def with_excluded(
        *args: Any,
        excludes: tuple[str, ...],
        iexcludes: tuple[str, ...],
        exclude_files: tuple[str, ...],
        iexclude_files: tuple[str, ...],
        **kwargs: Any,
    ) -> R:
        excluded = ExcludeFlags(
            list(excludes), list(iexcludes), list(exclude_files), list(iexclude_files)
        )
        return verb(*args, excluded=excluded, **kwargs)

    decorated: Callable[..., R] = with_excluded
    for flag in reversed(_FLAGS):  # click lists the options last applied first
        decorated = flag(decorated)
    return decorated


__all__ = ["ExcludeFlags", "exclude_options"]
