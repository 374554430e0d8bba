"""Recognition runs in a worker process during a backup (issue 13, section 3).

Real worker processes, real repositories and backups of the generated corpus (every
kind of key material) padded with enough candidates to start the worker. The worker
is killed, or the backup cancelled, when the worker process is seen to exist (an
observed event, not a timer); each claim has its positive control.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.conftest import warning_context
from tests.inventory_corpus import make_corpus

import keyark.archiver.inventory as recorder_module
from keyark.archiver.backup import BackupOptions, backup
from keyark.archiver.inventory import WORKER_THRESHOLD, InventoryRecorder
from keyark.cancel import CancelToken
from keyark.catalog.inventories import stored_inventory
from keyark.context import OperationContext
from keyark.errors import CancelledError
from keyark.inventory.model import Inventory
from keyark.repo.repository import Repository

WORKER_MODULE = b"keyark.inventory.worker"
#: Enough candidates beyond the threshold that the walk goes on after the worker starts.
PADDING = 4 * WORKER_THRESHOLD
#: Files of the cancelled backup: enough that the walk outlasts the watch by far.
CANCEL_PADDING = 40 * WORKER_THRESHOLD


def _tree(root: Path, padding_files: int = PADDING) -> Path:
    """The corpus plus ``padding_files`` copies of its PEM files (distinct paths)."""
    make_corpus(root / "corpus", datetime.now(UTC))
    pems = sorted(
        p for p in (root / "corpus").rglob("*.pem") if p.is_file() and p.stat().st_size < 1 << 16
    )
    assert pems
    padding = root / "padding"
    padding.mkdir()
    for index in range(padding_files):
        shutil.copyfile(pems[index % len(pems)], padding / f"copy-{index}.pem")
    return root


def _workers() -> list[int]:
    """This process's running worker children."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command = handle.read()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and WORKER_MODULE in command and fields[0] != b"Z":
            found.append(int(entry))
    return found


class WorkerWatch:
    """Watches for the worker to appear, then acts on it once (on a thread)."""

    def __init__(self, act: Callable[[int], None]) -> None:
        self.seen: int | None = None
        self.environment: dict[str, str] = {}
        self._act = act
        #: Workers already running (another test's, still exiting) are not this one's.
        self._before = set(_workers())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            workers = [pid for pid in _workers() if pid not in self._before]
            if workers:
                self.seen = workers[0]
                with open(f"/proc/{self.seen}/environ", "rb") as handle:
                    for item in handle.read().split(b"\0"):
                        name, _, value = item.decode("utf-8", "replace").partition("=")
                        if name:
                            self.environment[name] = value
                self._act(self.seen)
                return
            time.sleep(0.002)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def _inventory(repo: Repository, snapshot_id: str) -> Inventory:
    stored = stored_inventory(repo, repo.snapshots.load(snapshot_id))
    assert stored.inventory is not None
    return stored.inventory


def _facts(inventory: Inventory) -> list[dict[str, object]]:
    return sorted(
        (f.to_dict() for f in inventory.findings),
        key=lambda d: (str(d["path"]), str(d["kind"]), str(d["fingerprint"])),
    )


def test_worker_and_inline_parsing_give_the_same_inventory(tmp_path: Path) -> None:
    root = _tree(tmp_path / "src")
    files = sorted(p for p in root.rglob("*") if p.is_file())
    now = datetime.now(UTC)

    def record(threshold: int) -> tuple[Inventory, InventoryRecorder]:
        recorder = InventoryRecorder(None, worker_threshold=threshold)
        for path in files:
            data = path.read_bytes()
            recorder.add(str(path), recorder.inspect(str(path), data, path.stat()))
        return recorder.finish(now), recorder

    by_worker, worker_recorder = record(WORKER_THRESHOLD)
    inline, inline_recorder = record(len(files) + 1)
    assert worker_recorder.worker_pid is not None  # the worker ran
    assert worker_recorder.worker_answered > PADDING  # and answered (gpg keyboxes excepted)
    assert inline_recorder.worker_pid is None and inline_recorder.worker_answered == 0
    assert worker_recorder.parsed == inline_recorder.parsed > PADDING
    kinds = {f.kind for f in inline.findings}
    assert {"certificate", "private_key", "env_file", "authorized_keys"} <= kinds
    assert _facts(by_worker) == _facts(inline)
    assert worker_recorder.failures == inline_recorder.failures


def test_backup_survives_a_killed_worker_with_a_full_inventory(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree(tmp_path / "src")
    monkeypatch.setenv("KEYARK_PASSWORD", "never-in-the-worker")
    monkeypatch.setenv("KEYARK_TEST_VISIBLE_MARKER", "inherited")

    # Positive control: the same backup with the worker left alone, and no warning.
    context, warnings = warning_context(tmp_path / "cache")
    watch = WorkerWatch(lambda pid: None)
    control = backup(repo, BackupOptions(paths=[str(root)]), context)
    watch.stop()
    assert watch.seen is not None  # the backup used a worker
    assert control.snapshot_id and not [w for w in warnings if "recognition" in w]
    expected = _facts(_inventory(repo, control.snapshot_id))
    assert len(expected) > PADDING

    # The worker's environment: inherited, but without keyark's secrets.
    assert watch.environment.get("KEYARK_TEST_VISIBLE_MARKER") == "inherited"
    assert "KEYARK_PASSWORD" not in watch.environment

    context, warnings = warning_context(tmp_path / "cache")
    watch = WorkerWatch(lambda pid: os.kill(pid, signal.SIGKILL))
    killed = backup(repo, BackupOptions(paths=[str(root)], force=True), context)
    watch.stop()
    assert watch.seen is not None
    assert killed.snapshot_id and killed.snapshot_id != control.snapshot_id
    assert [w for w in warnings if "recognition process failed" in w]
    assert _facts(_inventory(repo, killed.snapshot_id)) == expected
    assert not _workers()


def test_cancelled_backup_leaves_no_worker(repo: Repository, tmp_path: Path) -> None:
    # The worker starts after the first candidates; thousands more keep the walk going
    # well past the moment the watch sees it and cancels (the cancel lands mid-walk).
    root = _tree(tmp_path / "src", padding_files=CANCEL_PADDING)
    token = CancelToken()
    context = OperationContext(cache_dir=tmp_path / "cache", cancel=token)
    watch = WorkerWatch(lambda pid: token.cancel())
    with pytest.raises(CancelledError):
        backup(repo, BackupOptions(paths=[str(root)]), context)
    watch.stop()
    assert watch.seen is not None  # positive control: there was a worker to leave behind
    assert not os.path.exists(f"/proc/{watch.seen}")  # killed and reaped
    assert not _workers()


def test_few_candidates_are_parsed_inline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "src"
    make_corpus(root, datetime.now(UTC))
    files = sorted(p for p in root.rglob("*") if p.is_file())
    monkeypatch.setattr(recorder_module, "WORKER_THRESHOLD", len(files) + 1)
    recorder = InventoryRecorder(None)
    for path in files:
        recorder.add(str(path), recorder.inspect(str(path), path.read_bytes(), path.stat()))
    inventory = recorder.finish(datetime.now(UTC))
    assert recorder.worker_pid is None and recorder.parsed > 0
    assert len(inventory.findings) > 0


def test_the_worker_runs_below_the_backup_s_priority() -> None:
    """The worker lowers its own priority at start (the backup's threads run first); a
    process that does not call it keeps its parent's priority (the control)."""
    from keyark.archiver.recognition import RecognitionWorker
    from keyark.inventory.worker import NICENESS

    mine = os.getpriority(os.PRIO_PROCESS, 0)
    answered = threading.Event()
    worker = RecognitionWorker(lambda *_: answered.set(), lambda: None)
    try:
        # Larger than the pipe writer's buffer: written at once, not held for more.
        worker.send((1, "a.pem", 0o600, 0, 0, b"-----BEGIN CERTIFICATE-----\n" * 4096))
        worker.flush()
        assert answered.wait(60)  # it has started and answered: past its start-up
        assert os.getpriority(os.PRIO_PROCESS, worker.pid) == min(19, mine + NICENESS)
    finally:
        worker.kill()
    control = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert os.getpriority(os.PRIO_PROCESS, control.pid) == mine
    finally:
        control.kill()
        control.wait()
