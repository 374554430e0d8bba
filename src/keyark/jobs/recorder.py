"""The history row of one run, written as it goes: started, each step, the end."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from keyark.state.runs import RunRecord, RunStore, StepRecord


class StepFailedError(Exception):
    """A step ended without success; the run's status and error are already set."""


class RunRecorder:
    """Keeps a :class:`RunRecord` and its store in step (a dry run stores nothing)."""

    def __init__(self, record: RunRecord, store: RunStore | None) -> None:
        self.record = record
        self.store = store
        self._clock = time.monotonic()

    def start(self) -> None:
        """Store the run as ``running`` with this process's id."""
        self.record.status = "running"
        self.record.started = datetime.now(UTC)
        self.record.pid = os.getpid()
        self._clock = time.monotonic()
        if self.store is not None:
            self.store.start(self.record)

    def add(self, name: str, status: str, seconds: float = 0.0, detail: str | None = None) -> None:
        """Append a finished step and store the row."""
        self.record.steps.append(StepRecord(name, status, round(seconds, 3), detail))
        self._save()

    @contextmanager
    def step(self, name: str) -> Iterator[StepRecord]:
        """Time the block as step ``name``: ``ok`` unless the block sets another status or
        raises (``failed``, the exception's text as the detail)."""
        step = StepRecord(name, "ok")
        clock = time.monotonic()
        try:
            yield step
        except BaseException as error:
            step.status = "failed"
            step.detail = step.detail or str(error) or type(error).__name__
            raise
        finally:
            step.seconds = round(time.monotonic() - clock, 3)
            self.record.steps.append(step)
            self._save()

    def fail(self, error: str, code: str) -> None:
        """Mark the run failed (the first failure's message and code are kept)."""
        self.record.status = "failed"
        if self.record.error is None:
            self.record.error, self.record.error_code = error, code

    def finish(self, status: str | None = None) -> RunRecord:
        """End the run: its final status (``success`` unless already failed), end time,
        duration; stored."""
        if status is not None and self.record.status != "failed":
            self.record.status = status
        elif self.record.status == "running":
            self.record.status = "success"
        self.record.finished = datetime.now(UTC)
        self.record.duration = round(time.monotonic() - self._clock, 3)
        self._save()
        return self.record

    def _save(self) -> None:
        if self.store is not None and self.record.id is not None:
            self.store.update(self.record)
