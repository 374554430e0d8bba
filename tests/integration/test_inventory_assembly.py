"""The recognition worker assembles the inventory; a worker that fails then is recovered.

Real worker processes (the real one, and the real one wrapped to misbehave at the end
only), real files of the generated corpus padded with enough candidates to start the
worker. Each failure has its positive control: the honest worker, no warning, the
same inventory as parsing everything in the backup process.
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.inventory_corpus import make_corpus

import keyark.archiver.recognition as recognition
from keyark.archiver.inventory import WORKER_THRESHOLD, InventoryRecorder
from keyark.events import Event, Events, OperationWarning
from keyark.inventory.finding import Finding, Inventory

#: A worker that answers every file as the real one does, and misbehaves only when
#: asked for the inventory (argv[1] says how).
FAKE_WORKER = """
import os, sys, zlib
from keyark.inventory import worker

MODE = sys.argv[1]


class Session(worker.WorkerSession):
    def answer(self, request):
        if request[0] == "finish" and MODE != "honest":
            if MODE == "crash":
                os._exit(3)
            if MODE == "garbage":
                return ["inventory", b"not an inventory"]
            if MODE == "newer":
                document = b'{"version": 99, "created": "x", "findings": []}'
                return ["inventory", zlib.compress(document)]
            if MODE == "nothing":
                return ["answered", [], [], worker._pack([])]
        return super().answer(request)


worker.WorkerSession = Session
sys.exit(worker.main())
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The corpus plus enough PEM copies to start the worker."""
    root = tmp_path_factory.mktemp("assembly")
    make_corpus(root / "corpus", datetime.now(UTC))
    pems = sorted(p for p in (root / "corpus").rglob("*.pem") if p.stat().st_size < 1 << 16)
    (root / "padding").mkdir()
    for index in range(2 * WORKER_THRESHOLD):
        shutil.copyfile(pems[index % len(pems)], root / "padding" / f"copy-{index}.pem")
    # A name that is not UTF-8 goes to the worker and back unchanged.
    shutil.copyfile(pems[0], root / "padding" / os.fsdecode(b"not-utf8-\xff.pem"))
    return sorted(p for p in root.rglob("*") if p.is_file())


def _record(
    files: list[Path], threshold: int, parent: Inventory | None = None
) -> tuple[InventoryRecorder, list[str]]:
    warnings: list[str] = []

    def sink(event: Event) -> None:
        if isinstance(event, OperationWarning):
            warnings.append(event.message)

    recorder = InventoryRecorder(parent, worker_threshold=threshold)
    recorder.bind(Events("", sink))
    for path in files:
        recorder.add(str(path), recorder.inspect(str(path), path.read_bytes(), path.stat()))
    return recorder, warnings


def _facts(inventory: Inventory) -> list[dict[str, object]]:
    return sorted(
        (f.to_dict() for f in inventory.findings),
        key=lambda d: (str(d["path"]), str(d["kind"]), str(d["fingerprint"])),
    )


def _use_fake_worker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: str) -> None:
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    monkeypatch.setattr(recognition, "WORKER_ARGUMENTS", ("-B", str(script), mode))


@pytest.fixture(scope="module")
def inline(files: list[Path]) -> list[dict[str, object]]:
    """What parsing every file in the backup process gives (no worker)."""
    recorder, warnings = _record(files, len(files) + 1)
    assert recorder.worker_pid is None and not warnings
    return _facts(recorder.finish(datetime(2030, 1, 1, tzinfo=UTC)))


@pytest.mark.parametrize("mode", ["crash", "garbage", "newer", "nothing"])
def test_a_worker_failing_at_the_end_leaves_a_complete_inventory(
    files: list[Path],
    inline: list[dict[str, object]],
    mode: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    # Positive control: the same wrapper, honest, assembles the inventory itself.
    _use_fake_worker(monkeypatch, tmp_path, "honest")
    honest, warnings = _record(files, WORKER_THRESHOLD)
    assert _facts(honest.finish(now)) == inline and not warnings
    assert any("\udcff" in str(fact["path"]) for fact in inline)
    assert honest.worker_pid is not None and honest.worker_answered == honest.parsed

    _use_fake_worker(monkeypatch, tmp_path, mode)
    recorder, warnings = _record(files, WORKER_THRESHOLD)
    assert recorder.failures == []  # every file answered by the worker before the end
    assert recorder.worker_answered == recorder.parsed > WORKER_THRESHOLD
    assert _facts(recorder.finish(now)) == inline
    assert [w for w in warnings if "recognition process failed" in w]
    assert recorder.worker_pid is not None and not os.path.exists(f"/proc/{recorder.worker_pid}")


def test_findings_taken_over_from_the_parent_go_through_the_worker(
    files: list[Path], inline: list[dict[str, object]]
) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    parent = InventoryRecorder(None, worker_threshold=len(files) + 1)
    for path in files:
        parent.add(str(path), parent.inspect(str(path), path.read_bytes(), path.stat()))
    previous = parent.finish(now)
    corpus = [p for p in files if "padding" not in p.parts]
    assert {f.path for f in previous.findings} & {str(p) for p in corpus}

    # The corpus is unchanged (taken over), the padding read again: by the worker.
    recorder = InventoryRecorder(previous, worker_threshold=WORKER_THRESHOLD // 2)
    directory = os.open("/", os.O_RDONLY)
    try:
        for path in files:
            if path in corpus:
                recorder.unchanged(directory, str(path)[1:], str(path), path.stat())
            else:
                data = path.read_bytes()
                recorder.add(str(path), recorder.inspect(str(path), data, path.stat()))
    finally:
        os.close(directory)
    assert recorder.worker_pid is not None  # the worker assembled it
    assert recorder.parsed == len(files) - len(corpus)
    assert _facts(recorder.finish(now)) == inline


def test_stored_form_leaves_empty_fields_out_and_reads_the_full_form() -> None:
    from keyark.repo.inventory import decode_inventory, encode_inventory

    created = datetime(2030, 1, 1, tzinfo=UTC)
    finding = Finding(kind="private_key", path="/k.pem", algorithm="RSA", size=2048, is_ca=False)
    inventory = Inventory(findings=[finding], created=created)
    encoded = encode_inventory(inventory)
    document = json.loads(zlib.decompress(encoded))
    stored = document["findings"][0]
    assert None not in stored.values() and [] not in stored.values()
    assert stored["is_ca"] is False and stored["secret"] is False  # False is not empty
    assert decode_inventory(encoded, "test") == inventory
    # What earlier versions stored (every field, nulls included) reads the same.
    full = zlib.compress(json.dumps(inventory.to_dict()).encode())
    assert "null" in zlib.decompress(full).decode()
    assert decode_inventory(full, "test") == inventory


def test_the_worker_assembles_when_input_ends_if_the_time_is_known(
    files: list[Path], inline: list[dict[str, object]]
) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    recorder = InventoryRecorder(None, created=now, worker_threshold=WORKER_THRESHOLD)
    for path in files:
        recorder.add(str(path), recorder.inspect(str(path), path.read_bytes(), path.stat()))
    assert recorder.worker_pid is not None
    worker = recorder._worker
    assert worker is not None
    recorder.end_input()
    # The worker answers the inventory and exits on its own, before it is asked for.
    assert worker.wait(60) and worker.inventory is not None and worker.failed is None
    assert _facts(recorder.finish(now)) == inline

    # Asked for another time, the inventory is assembled here (from what the worker
    # answered), without a warning: it is still complete and linked as of that time.
    later = datetime.now(UTC)  # the corpus' certificates are valid now, expired in 2030
    other, warnings = _record(files, WORKER_THRESHOLD)
    other._created = now
    expected = InventoryRecorder(None, worker_threshold=len(files) + 1)
    for path in files:
        expected.add(str(path), expected.inspect(str(path), path.read_bytes(), path.stat()))
    assert _facts(other.finish(later)) == _facts(expected.finish(later)) != inline
    assert not warnings


def test_beyond_the_held_bound_the_walk_waits_for_the_worker(
    files: list[Path], inline: list[dict[str, object]]
) -> None:
    recorder = InventoryRecorder(None, worker_threshold=10, max_held_bytes=16 << 10)
    for path in files:
        recorder.add(str(path), recorder.inspect(str(path), path.read_bytes(), path.stat()))
        assert recorder._held <= (16 << 10) + (1 << 20)  # the bound, plus one file
    assert _facts(recorder.finish(datetime(2030, 1, 1, tzinfo=UTC))) == inline
    keyboxes = sum(1 for p in files if p.read_bytes()[8:12] == b"KBXf")
    # Nothing was parsed here for want of room: the worker answered every file it could.
    assert recorder.worker_answered == recorder.parsed - keyboxes > 2 * WORKER_THRESHOLD
