"""The snapshot filter flags ``--host``, ``--tag`` and ``--path`` (restic's), as one group,
and the ``SNAPSHOT[:DIR]`` argument (:func:`snapshot_and_directory`).

A verb decorated with :func:`filter_options` takes one parameter, ``selection`` (a
:class:`~keyark.ops.SnapshotFilter`), instead of the three flags' values.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from keyark import ops

R = TypeVar("R")

#: The group's flags, in the order ``--help`` lists them.
_FLAGS = (
    click.option(
        "--host", "hosts", multiple=True, metavar="HOST", help="Only snapshots of this host."
    ),
    click.option(
        "--tag", "tags", multiple=True, metavar="TAG[,TAG]", help="Only snapshots with these tags."
    ),
    click.option(
        "--path", "paths", multiple=True, metavar="PATH", help="Only snapshots with this path."
    ),
)


def filter_options(verb: Callable[..., R]) -> Callable[..., R]:
    """Add ``--host``, ``--tag`` and ``--path`` to ``verb``, which receives them as one
    ``selection`` (:func:`make_filter`)."""

    @wraps(verb)
    def with_selection(
        *args: Any,
        hosts: tuple[str, ...],
        tags: tuple[str, ...],
        paths: tuple[str, ...],
        **kwargs: Any,
    ) -> R:
        return verb(*args, selection=make_filter(hosts, tags, paths), **kwargs)

    decorated: Callable[..., R] = with_selection
    for flag in reversed(_FLAGS):  # click lists the options last applied first
        decorated = flag(decorated)
    return decorated


def make_filter(
    hosts: tuple[str, ...], tags: tuple[str, ...], paths: tuple[str, ...]
) -> ops.SnapshotFilter:
    """The filter options as a snapshot filter (``--path`` relative to the working directory)."""
    return ops.SnapshotFilter(
        hosts=list(hosts), tags=list(tags), paths=[os.path.abspath(p) for p in paths]
    )


def snapshot_and_directory(argument: str) -> tuple[str, str]:
    """``SNAPSHOT[:DIR]`` as the snapshot named and the directory of it (``/`` when none)."""
    ref, _, directory = argument.partition(":")
    return ref, directory or "/"


__all__ = ["filter_options", "make_filter", "snapshot_and_directory"]
