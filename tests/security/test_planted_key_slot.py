"""Issue 8, section 6: a malformed or planted key slot never stops an unlock (design D5).

The attacker is a storage writer. In review, one slot with Argon2 memory 8 GiB or
time cost 100,000 made every unlock allocate without bound or hang, and one planted
slot made every unlock fail with ``HashingError``. Here such slots (and garbage,
bad JSON, wrong types in every field) are planted next to the genuine one: the
genuine passphrase still opens at once, the KDF is never run with the hostile
parameters, and a wrong passphrase is refused with one line naming the skipped
slots. Positive controls show the hostile parameters really are hostile.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from argon2 import low_level
from tests.conftest import CLI, PASSWORD

from keyark.backends.local import LocalBackend
from keyark.crypto import kdf, slots
from keyark.errors import FormatError
from keyark.repo import key_store
from keyark.repo.repository import Repository

HUGE_MEMORY = {"memory_kib": 8 * 1024 * 1024, "time_cost": 3}
HUGE_TIME = {"memory_kib": 19 * 1024, "time_cost": 100_000}


def _genuine_document(repo: Path) -> dict[str, Any]:
    (slot_file,) = (repo / "keys").iterdir()
    document: dict[str, Any] = json.loads(slot_file.read_bytes())
    return document


def _plant(repo: Path, slot_id: str, content: bytes) -> None:
    (repo / "keys" / slot_id).write_bytes(content)


def _hostile_kdf(document: dict[str, Any], change: dict[str, int]) -> bytes:
    planted = json.loads(json.dumps(document))
    planted["params"]["kdf"].update(change)
    return json.dumps(planted).encode()


def test_planted_slots_do_not_stop_unlocking(cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    cli.run("init", check=True)
    document = _genuine_document(cli.repo)
    _plant(cli.repo, "a" * 32, _hostile_kdf(document, HUGE_MEMORY))
    _plant(cli.repo, "b" * 32, _hostile_kdf(document, HUGE_TIME))
    _plant(cli.repo, "c" * 32, b"\x00garbage\xff")
    _plant(cli.repo, "d" * 32, b'{"version": 2, "kind": "passphrase"')
    _plant(cli.repo, "e" * 32, json.dumps({**document, "public": 7}).encode())
    _plant(cli.repo, "not-a-slot-id", b"{}")

    started = time.monotonic()
    opened = cli.run("key", "list", "--json")
    assert opened.returncode == 0, opened.stderr
    assert time.monotonic() - started < 30
    listed = json.loads(opened.stdout)
    assert [k["current"] for k in listed] == [True]  # only the genuine slot is listed

    wrong = cli.run("snapshots", env={"KEYARK_PASSWORD": "not the passphrase"})
    assert wrong.returncode == 12
    lines = [line for line in wrong.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "6 key slot(s) skipped as malformed" in lines[0], wrong.stderr
    assert "aaaaaaaa" in lines[0] and "Traceback" not in wrong.stderr

    # In process: the hostile parameters never reach Argon2.
    calls: list[dict[str, Any]] = []
    real = low_level.hash_secret_raw  # what kdf imported, before the spy replaces it

    def spy(*args: Any, **kwargs: Any) -> bytes:
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(kdf, "hash_secret_raw", spy)
    Repository.open(LocalBackend(cli.repo), slots.Credentials(passphrase=PASSWORD.encode())).close()
    assert calls and all(c["memory_cost"] <= kdf.MAX_MEMORY_KIB for c in calls)
    assert all(c["time_cost"] <= kdf.MAX_TIME_COST for c in calls)


def test_hostile_kdf_parameters_are_refused_before_deriving(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    salt = b"\0" * 16
    # Positive control: these parameters are accepted by Argon2 itself (it would
    # allocate 8 GiB or run 100,000 passes), so only keyark's bounds stop them.
    hostile = [
        kdf.KdfParams(kdf.ARGON2ID, salt, time_cost=3, memory_kib=8 * 1024 * 1024, parallelism=1),
        kdf.KdfParams(kdf.ARGON2ID, salt, time_cost=100_000, memory_kib=19 * 1024, parallelism=1),
        kdf.KdfParams(kdf.ARGON2ID, salt, time_cost=3, memory_kib=19 * 1024, parallelism=64),
        kdf.KdfParams(kdf.PBKDF2_SHA256, salt, iterations=10**12),
    ]

    def never(*_args: Any, **_kwargs: Any) -> bytes:
        raise AssertionError("Argon2 ran with hostile parameters")

    monkeypatch.setattr(kdf, "hash_secret_raw", never)
    for params in hostile:
        with pytest.raises(FormatError):
            kdf.derive(b"secret", params)
        with pytest.raises(FormatError):
            kdf.KdfParams.from_dict(params.to_dict())


HOSTILE: list[object] = [None, True, -1, 0, 2**64, "", "zz", "00" * 5000, [], {}, 1.5, "a\0"]


def test_slot_parser_checks_every_field(tmp_path: Path) -> None:
    """Each field of a real slot replaced by hostile values: FormatError only, never a crash."""
    path = tmp_path / "repo"
    Repository.init(LocalBackend(path), PASSWORD.encode()).close()
    document = _genuine_document(path)
    slot_id = next((path / "keys").iterdir()).name
    assert slots.KeySlot.from_bytes(slot_id, json.dumps(document).encode())  # control
    variants: list[dict[str, Any]] = []
    for field in document:
        variants.extend({**document, field: value} for value in HOSTILE)
        variants.append({k: v for k, v in document.items() if k != field})
    for field in document["params"]["kdf"]:
        for value in HOSTILE:
            kdf_params = {**document["params"]["kdf"], field: value}
            variants.append({**document, "params": {"kdf": kdf_params}})
    variants.append({**document, "extra": 1})
    accepted = 0
    for number, variant in enumerate(variants):
        planted_id = f"{number:032x}"
        try:
            slots.KeySlot.from_bytes(planted_id, json.dumps(variant).encode())
            accepted += 1
        except FormatError:
            pass
        _plant(path, planted_id, json.dumps(variant).encode())
    assert accepted <= 2  # a harmless label-free value may parse; it opens nothing
    found, malformed = key_store.scan_slots(LocalBackend(path))
    assert len(malformed) >= len(variants) - 2
    # The genuine slot still opens the repository among all the planted ones.
    with Repository.open(
        LocalBackend(path), slots.Credentials(passphrase=PASSWORD.encode())
    ) as repo:
        assert repo.keys.slot is not None and repo.keys.slot.slot_id == slot_id
    assert any(s.slot_id == slot_id for s in found)
