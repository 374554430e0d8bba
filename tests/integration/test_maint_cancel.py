"""Cancelling check --read-data and prune: stopped at a checkpoint, lock released, consistent.

Each run is cancelled from the event sink as soon as the first progress event with
work done arrives (not by a timer), so the cancel always lands in the middle of the
work. Afterwards no lock object is left, the repository checks clean, and the same
run without a cancel completes (positive control: the trigger fires there too).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.maint_helpers import backup, operation_context, reopen, write_files

from keyark import ops
from keyark.cancel import CancelToken
from keyark.errors import CancelledError
from keyark.events import Event, Failed, Progress
from keyark.repo.locks import LOCK_PREFIX
from keyark.repo.repository import Repository

KIB = 1024


class CancelAt:
    """An event sink that records every event and cancels at the first matching progress."""

    def __init__(self, phases: tuple[str, ...], cancel: bool = True) -> None:
        self.phases = phases
        self.token = CancelToken()
        self.cancel = cancel
        self.events: list[Event] = []
        self.fired: Progress | None = None

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if (
            self.fired is None
            and isinstance(event, Progress)
            and event.phase in self.phases
            and event.files_done > 0
        ):
            self.fired = event
            if self.cancel:
                self.token.cancel()

    def progress(self, phase: str) -> list[Progress]:
        return [e for e in self.events if isinstance(e, Progress) and e.phase == phase]


def locks_left(repo: Repository) -> list[str]:
    return [info.name for info in repo.backend.list(LOCK_PREFIX)]


def assert_checks_clean(repo: Repository) -> ops.CheckSummary:
    summary = ops.check(operation_context(repo), ops.CheckOptions(read_data=True))
    assert summary.ok, summary.problems
    return summary


def history(repo: Repository, tmp_path: Path) -> None:
    """Three snapshots over ~40 files of 60-100 KiB (1 MiB packs: many packs), each
    backup rewriting a third of the files, so older packs are partly unused."""
    source = tmp_path / "src"
    sizes = {f"d{i % 4}/f{i}": (60 + i) * KIB for i in range(40)}
    write_files(source, sizes)
    backup(repo, source)
    for round_ in range(2):
        write_files(
            source, {name: size for i, (name, size) in enumerate(sizes.items()) if i % 3 == round_}
        )
        backup(repo, source)


def test_check_read_data_is_cancelled_at_its_first_pack(repo: Repository, tmp_path: Path) -> None:
    history(repo, tmp_path)
    sink = CancelAt(("read",))
    with pytest.raises(CancelledError):
        ops.check(operation_context(repo, sink, sink.token), ops.CheckOptions(read_data=True))
    read = sink.progress("read")
    assert sink.fired is not None and read[-1].files_total is not None
    assert read[-1].files_done < read[-1].files_total  # stopped early, not at the end
    assert any(isinstance(e, Failed) and e.code == "cancelled" for e in sink.events)
    assert locks_left(repo) == []
    # Positive control: the same run without a cancel reads every pack.
    control = CancelAt(("read",), cancel=False)
    summary = ops.check(operation_context(repo, control), ops.CheckOptions(read_data=True))
    assert control.fired is not None and summary.ok, summary.problems
    last = control.progress("read")[-1]
    assert last.files_done == last.files_total == summary.packs_read > read[-1].files_done
    assert last.bytes_done == last.bytes_total == summary.bytes_read
    assert locks_left(repo) == []


def test_prune_is_cancelled_at_its_first_progress(repo: Repository, tmp_path: Path) -> None:
    history(repo, tmp_path)
    ops.forget(operation_context(repo), ops.ForgetOptions(policy=ops.RetentionPolicy(last=1)))
    options = ops.PruneOptions(max_unused=ops.UnusedLimit(percent=0))
    planned = ops.prune(operation_context(repo), ops.PruneOptions(options.max_unused, dry_run=True))
    assert planned.plan.repack and planned.plan.delete  # both phases have work
    sink = CancelAt(("repack", "delete"))
    with pytest.raises(CancelledError):
        ops.prune(operation_context(repo, sink, sink.token), options)
    assert sink.fired is not None and sink.fired.files_total is not None
    assert sink.fired.files_done < sink.fired.files_total
    assert locks_left(repo) == []
    assert_checks_clean(reopen(repo))
    # Positive control: the same prune without a cancel completes and frees the space.
    control = CancelAt(("repack", "delete"), cancel=False)
    done = ops.prune(operation_context(repo, control), options)
    assert control.fired is not None and done.packs_deleted > 0
    finals = control.progress("delete")
    assert finals and finals[-1].files_done == finals[-1].files_total
    assert locks_left(repo) == []
    after = ops.prune(operation_context(repo), ops.PruneOptions(options.max_unused, dry_run=True))
    assert after.plan.nothing_to_do and after.plan.unused_bytes == 0
    assert_checks_clean(reopen(repo))


def test_forget_reports_each_snapshot_removed(repo: Repository, tmp_path: Path) -> None:
    history(repo, tmp_path)
    sink = CancelAt(("forget",), cancel=False)
    result = ops.forget(
        operation_context(repo, sink), ops.ForgetOptions(policy=ops.RetentionPolicy(last=1))
    )
    removed = sink.progress("forget")
    assert [e.files_done for e in removed] == [1, 2] and len(result.removed) == 2
    assert all(e.files_total == 2 for e in removed)
    assert result.to_dict()["removed"] == result.removed
