"""Temporary objects (``.tmp-*``) that killed writes leave in the repository.

Local, SFTP and FTP storage write every object to ``.tmp-<random>`` and rename
it when complete, so a process killed mid-write leaves a partial temporary
object that no listing shows and nothing else removes. ``check`` reports them
(a note, never an error) and ``prune`` removes the stale ones.

**Which are stale.** ``prune`` holds the exclusive lock, so no other operation
holds a valid lock: every other writer has exited, was killed, or has been
paused past its lock's expiry (and must then fail before it writes an index or
a snapshot, issue 9). A live writer keeps its temporary object's modification
time fresh while it writes; one not modified for longer than a lock lives
without refresh (:data:`~keyark.repo.locks.EXPIRY_SECONDS`, 10 minutes) belongs
to no operation that may still finish. Removing such an object under a paused
writer only makes that writer's ``put`` fail (the rename finds nothing), never
loses data silently. Younger ones are kept: a later prune removes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from keyark.backends.base import Backend, TemporaryObject, delete_temporary, list_temporary
from keyark.errors import BackendError, NotFoundError
from keyark.events import Code, Events
from keyark.repo.locks import EXPIRY_SECONDS

#: A temporary object untouched this long is stale (removed by ``prune``).
STALE_AFTER_SECONDS = EXPIRY_SECONDS


@dataclass
class TemporaryReport:
    """The temporary objects found, and which of them are stale."""

    found: list[TemporaryObject] = field(default_factory=list)
    stale_after_seconds: float = STALE_AFTER_SECONDS

    @property
    def stale(self) -> list[TemporaryObject]:
        """Those older than :attr:`stale_after_seconds`."""
        return [t for t in self.found if t.age_seconds > self.stale_after_seconds]

    @property
    def bytes(self) -> int:
        return sum(t.size for t in self.found)

    def describe(self) -> str:
        """One line for ``check``: how many, how big, how many prune would remove."""
        if not self.found:
            return "no temporary objects"
        minutes = self.stale_after_seconds / 60
        return (
            f"{len(self.found)} temporary object(s) of {self.bytes} bytes left by interrupted "
            f"writes (first {self.found[0].name}); {len(self.stale)} older than "
            f"{minutes:g} minutes, which prune removes"
        )


def scan_temporaries(
    backend: Backend, stale_after_seconds: float = STALE_AFTER_SECONDS
) -> TemporaryReport:
    """Every temporary object of ``backend`` (none for object stores)."""
    found = sorted(list_temporary(backend), key=lambda t: t.name)
    return TemporaryReport(found, stale_after_seconds)


@dataclass
class TemporaryRemoval:
    """What :func:`remove_stale_temporaries` did."""

    removed: int = 0
    bytes: int = 0
    kept: int = 0


def remove_stale_temporaries(
    backend: Backend,
    events: Events | None = None,
    stale_after_seconds: float = STALE_AFTER_SECONDS,
) -> TemporaryRemoval:
    """Delete the stale temporary objects; keep younger ones.

    Call only under the exclusive lock (see the module docstring). A failed
    deletion is warned about (to ``events``, when given) and skipped (prune runs
    again later).
    """
    found = scan_temporaries(backend, stale_after_seconds)
    result = TemporaryRemoval(kept=len(found.found) - len(found.stale))
    for temporary in found.stale:
        try:
            delete_temporary(backend, temporary.name)
        except NotFoundError:
            continue  # its writer finished or cleaned up meanwhile
        except BackendError as error:
            message = f"could not delete temporary object {temporary.name}: {error}"
            if events is not None:
                events.warn(Code.DELETE_DEFERRED, message, subject=temporary.name)
            continue
        result.removed += 1
        result.bytes += temporary.size
    return result
