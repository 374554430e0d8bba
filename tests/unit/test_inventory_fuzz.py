"""recognise() never raises: random bytes, truncated and mutated corpus files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.inventory_corpus import make_corpus

from keyark.inventory.model import Finding, recognise

NOW = datetime(2026, 6, 1, tzinfo=UTC)
_FILES: list[tuple[str, bytes]] = []


@pytest.fixture(scope="module", autouse=True)
def corpus_files(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("fuzz-corpus")
    expected = make_corpus(root, NOW)
    _FILES[:] = [
        (path, (root / path).read_bytes())
        for path in sorted(expected)
        if (root / path).stat().st_size < 100_000
    ]


def _check(path: str, data: bytes) -> None:
    found = recognise(path, data, mode=0o600, uid=0, gid=0)
    assert isinstance(found, list) and all(isinstance(item, Finding) for item in found)
    for item in found:
        Finding.from_dict(item.to_dict())  # every finding is storable as it is


PREFIXES = [
    b"",
    b"-----BEGIN CERTIFICATE-----\n",
    b"-----BEGIN OPENSSH PRIVATE KEY-----\n",
    b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n",
    b"\x30\x82",
    b"PuTTY-User-Key-File-3: ssh-ed25519\n",
    b"ssh-ed25519 ",
    b"{",
    b'{"keys": [',
    b"apiVersion: v1\nkind: Config\n",
    b"\xfe\xed\xfe\xed",
]
NAMES = ["x.pem", "id_rsa", ".env", "home/.kube/config", "known_hosts", "k.json", "k.p12"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.sampled_from(PREFIXES),
    body=st.binary(max_size=2048),
    name=st.sampled_from(NAMES),
)
def test_random_input_never_raises(prefix: bytes, body: bytes, name: str) -> None:
    _check(name, prefix + body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_truncated_and_mutated_corpus_files_never_raise(data: st.DataObject) -> None:
    path, content = data.draw(st.sampled_from(_FILES))
    cut = data.draw(st.integers(0, len(content)))
    mutated = bytearray(content[:cut])
    for _ in range(data.draw(st.integers(0, 4))):
        if mutated:
            index = data.draw(st.integers(0, len(mutated) - 1))
            mutated[index] = data.draw(st.integers(0, 255))
    _check(path, bytes(mutated))


def test_corpus_was_loaded() -> None:
    assert len(_FILES) > 20 and Path(_FILES[0][0]).name
