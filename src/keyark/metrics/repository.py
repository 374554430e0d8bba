"""Repository facts for metrics (stored size, snapshots, data key age), cached.

Reading them opens the repository (a key derivation, a listing of packs and snapshots),
so a collector does it at most once per interval: :class:`RepositoryFactsCache` keeps
the last reading of each repository and reads again once it is older than ``max_age``
(the daemon's ``monitor.interval``). A repository that cannot be read is left out
until the next reading, and its error is kept for the log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from keyark.config.document import KeyarkConfig
from keyark.context import OperationContext
from keyark.errors import KeyarkError


@dataclass(frozen=True)
class RepositoryFacts:
    """What a metric says about one repository."""

    name: str
    #: Bytes of pack data stored (the data of every snapshot, after dedup and compression).
    size_bytes: int
    snapshots: int
    #: When the current data key was made.
    data_key_created: datetime


def read_repository_facts(config: KeyarkConfig, name: str) -> RepositoryFacts | None:
    """Open the named repository and read its facts; None for a write-only (agent)
    credential, which cannot read them."""
    from keyark.ops.session import opened

    ctx = OperationContext(config=config.repository(name))
    if ctx.agent_credential is not None:
        return None
    with opened(ctx) as repo:
        created = datetime.fromisoformat(repo.keys.keyring.current.created)
        return RepositoryFacts(
            name=name,
            size_bytes=sum(repo.stored_packs().values()),
            snapshots=len(repo.snapshots.ids()),
            data_key_created=created if created.tzinfo else created.replace(tzinfo=UTC),
        )


Reader = Callable[[KeyarkConfig, str], "RepositoryFacts | None"]


@dataclass(frozen=True)
class _Reading:
    at: float
    facts: RepositoryFacts | None
    error: str | None = None


class RepositoryFactsCache:
    """The last reading of each repository, read again when older than ``max_age`` seconds.

    Thread-safe: concurrent scrapes wait for one reading instead of each opening the
    repository.
    """

    def __init__(
        self,
        max_age: float,
        *,
        read: Reader = read_repository_facts,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_age = max_age
        self._read = read
        self._clock = clock
        self._readings: dict[str, _Reading] = {}
        self._lock = threading.Lock()

    def facts(
        self, config: KeyarkConfig, names: Iterable[str]
    ) -> tuple[list[RepositoryFacts], dict[str, str]]:
        """The facts of the named repositories (fresh enough), and the errors of those
        that could not be read (name -> message)."""
        found: list[RepositoryFacts] = []
        errors: dict[str, str] = {}
        with self._lock:
            for name in names:
                reading = self._readings.get(name)
                if reading is None or self._clock() - reading.at >= self.max_age:
                    reading = self._reading(config, name)
                    self._readings[name] = reading
                if reading.facts is not None:
                    found.append(reading.facts)
                if reading.error is not None:
                    errors[name] = reading.error
        return found, errors

    def _reading(self, config: KeyarkConfig, name: str) -> _Reading:
        try:
            return _Reading(self._clock(), self._read(config, name))
        except (KeyarkError, OSError) as error:
            return _Reading(self._clock(), None, str(error) or type(error).__name__)
