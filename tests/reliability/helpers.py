"""Helpers shared by the reliability race tests (second sessions, hooks, restore checks)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from tests.conftest import tree_state
from tests.integration.maint_helpers import reopen

from keyark.context import OperationContext
from keyark.repo.repository import Repository
from keyark.repo.snapshot import Snapshot
from keyark.restorer.run import RestoreOptions, restore
from keyark.results import RestoreSummary

T = TypeVar("T")


def in_other_session(repo: Repository, action: Callable[[Repository], T]) -> T:
    """Run ``action`` in a second, fresh session on ``repo``'s repository (closed after)."""
    other = reopen(repo)
    try:
        return action(other)
    finally:
        other.close()


def run_before_first_call(
    monkeypatch: pytest.MonkeyPatch,
    owner: type,
    name: str,
    action: Callable[[], None],
    *,
    instance: object | None = None,
) -> list[object]:
    """Run ``action`` once, right before the first call of method ``owner.name`` (on
    ``instance`` only, when given). The returned list records that call's first argument
    once it fired (empty: it never did)."""
    fired: list[object] = []
    original = getattr(owner, name)

    def hooked(self: object, *args: Any, **kwargs: Any) -> Any:
        if not fired and (instance is None or self is instance):
            fired.append(args[0] if args else None)
            action()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(owner, name, hooked)
    return fired


def assert_restores(
    repo: Repository, snapshot: Snapshot, source: Path, target: Path, context: OperationContext
) -> RestoreSummary:
    """Restore ``snapshot`` into ``target``; assert it holds exactly ``source`` again."""
    summary = restore(repo, snapshot, RestoreOptions(target=str(target)), context)
    assert tree_state(target / source.relative_to("/")) == tree_state(source)
    return summary
