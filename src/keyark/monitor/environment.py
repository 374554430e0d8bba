"""What the checks look at: the config, the clock, the run history, the repositories.

One :class:`CheckEnvironment` serves one round of checks. Repositories are opened
through the operations with the config's credentials (resolved once per repository),
and what several checks read from an open repository (key status, slots, locks) is
read in one open and kept for the round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from keyark.config.document import KeyarkConfig, MonitorThresholds
from keyark.context import OperationContext
from keyark.monitor.model import CheckResult, Level

if TYPE_CHECKING:
    from keyark.keys import KeyInfo
    from keyark.maintenance.rotate import KeyStatus
    from keyark.repo.locks import LockInfo
    from keyark.state.runs import RunStore


@dataclass
class RepositoryFacts:
    """What one open of a repository told: key status, slots and locks (or why it failed)."""

    key_status: KeyStatus | None = None
    slots: list[KeyInfo] = field(default_factory=list)
    locks: list[LockInfo] = field(default_factory=list)
    error: str | None = None


@dataclass
class CheckEnvironment:
    """One round of checks: config, now, history, state directory and a base context."""

    config: KeyarkConfig
    now: datetime
    runs: RunStore
    state_dir: Path
    ctx: OperationContext = field(default_factory=OperationContext)
    _contexts: dict[str, OperationContext] = field(default_factory=dict, repr=False)
    _facts: dict[str, RepositoryFacts] = field(default_factory=dict, repr=False)
    #: What one check read that another check of the round reads too (by a key of its own).
    memo: dict[str, object] = field(default_factory=dict, repr=False)

    @property
    def thresholds(self) -> MonitorThresholds:
        """The config's ``monitor.thresholds``."""
        return self.config.monitor.thresholds

    def repository(self, name: str) -> OperationContext:
        """The named repository's context, credentials resolved once for the round."""
        made = self._contexts.get(name)
        if made is None:
            made = self.ctx.with_config(self.config.repository(name))
            if made.agent_credential is None:
                made.resolve_credentials()
            self._contexts[name] = made
        return made

    def facts(self, name: str) -> RepositoryFacts:
        """Key status, slots and locks of the named repository (one open per round)."""
        found = self._facts.get(name)
        if found is None:
            found = self._read_facts(name)
            self._facts[name] = found
        return found

    def _read_facts(self, name: str) -> RepositoryFacts:
        from keyark.keys import list_keys
        from keyark.maintenance.rotate import key_status
        from keyark.ops.session import opened

        try:
            with opened(self.repository(name)) as repo:
                return RepositoryFacts(key_status(repo), list_keys(repo), repo.locks.read())
        except Exception as error:  # reported as UNKNOWN by the checks that need it
            return RepositoryFacts(error=str(error) or type(error).__name__)


#: A family of checks: every result it has for the round.
CheckFamily = Callable[[CheckEnvironment], list[CheckResult]]


def unknown(check: str, subject: str, error: BaseException | str) -> CheckResult:
    """The result of a check that could not run."""
    text = error if isinstance(error, str) else (str(error) or type(error).__name__)
    return CheckResult(check, subject, Level.UNKNOWN, f"could not check: {text}")


def graded(
    value: float, warning: float | None, critical: float | None, *, above: bool = True
) -> Level:
    """OK, WARNING or CRITICAL for ``value`` against its thresholds (``above``: higher is
    worse; a None threshold never fires)."""

    def beyond(limit: float | None) -> bool:
        if limit is None:
            return False
        return value >= limit if above else value <= limit

    if beyond(critical):
        return Level.CRITICAL
    if beyond(warning):
        return Level.WARNING
    return Level.OK
