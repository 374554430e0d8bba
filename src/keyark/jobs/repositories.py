"""The config's repositories as operation contexts, one per name for the whole run."""

from __future__ import annotations

from keyark.config.document import KeyarkConfig
from keyark.context import OperationContext


class RepositoryContexts:
    """``context(name)``: the run's context for the named repository (same cancel token,
    events and actor), its credentials resolved once for every step of the run."""

    def __init__(self, ctx: OperationContext, config: KeyarkConfig) -> None:
        self.ctx = ctx
        self.config = config
        self._made: dict[str, OperationContext] = {}

    def context(self, name: str) -> OperationContext:
        """The named repository's context (a UsageError names an unknown one)."""
        made = self._made.get(name)
        if made is None:
            made = self.ctx.with_config(self.config.repository(name))
            if made.agent_credential is None:
                made.resolve_credentials()  # once: each step's context copies it
            self._made[name] = made
        return made

    def names(self, chosen: list[str]) -> list[str]:
        """``chosen``, or every repository of the config when none is named."""
        return list(chosen) or list(self.config.repositories)
