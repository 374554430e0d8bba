"""The open-repository-and-catalog pattern shared by the browsing verbs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from keyark import ops
from keyark.cli.render import Output
from keyark.cli.settings import Settings
from keyark.repo.repository import Repository
from keyark.repo.tree import Node


@dataclass(frozen=True)
class Browsing:
    """An unlocked repository, a catalog-backed tree loader and the operation context."""

    repo: Repository
    load: Callable[[bytes], list[Node]]
    context: ops.Context


@contextmanager
def browsing(settings: Settings, out: Output) -> Iterator[Browsing]:
    """Open the repository and its catalog for ``ls``, ``find``, ``diff``, ``stats``."""
    repo = settings.open_repository()
    try:
        context = settings.context(out.warn)
        load, close = ops.browse_loader(repo, context)
        try:
            yield Browsing(repo, load, context)
        finally:
            close()
    finally:
        repo.close()
