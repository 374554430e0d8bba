"""Recognition over the generated corpus (issue 13 §4): every expected fact appears, no
secret appears in any finding, and the cross-file links flag what they must."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.inventory_corpus import SECRETS, Expected, make_corpus

from keyark.inventory.model import (
    HEAD_BYTES,
    Finding,
    Inventory,
    is_candidate,
    link,
    recognise,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

Recognised = dict[str, list[Finding]]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Expected]]:
    root = tmp_path_factory.mktemp("corpus")
    return root, make_corpus(root, NOW)


def _scan(root: Path, expected: dict[str, Expected]) -> tuple[Recognised, dict[str, bool]]:
    found: Recognised = {}
    candidates: dict[str, bool] = {}
    for relative in expected:
        path = root / relative
        data = path.read_bytes()
        st = path.stat()
        candidates[relative] = is_candidate(relative, len(data), data[:HEAD_BYTES])
        found[relative] = (
            recognise(relative, data, mode=st.st_mode & 0o7777, uid=st.st_uid, gid=st.st_gid)
            if candidates[relative]
            else []
        )
    return found, candidates


@pytest.fixture(scope="module")
def recognised(corpus: tuple[Path, dict[str, Expected]]) -> tuple[Recognised, dict[str, bool]]:
    root, expected = corpus
    return _scan(root, expected)


def _linked(found: Recognised) -> Recognised:
    everything = [finding for findings in found.values() for finding in findings]
    by_path: Recognised = {}
    for finding in link(everything, NOW):
        by_path.setdefault(finding.path, []).append(finding)
    return by_path


def _matches(finding: Finding, facts: dict[str, Any]) -> bool:
    for key, value in facts.items():
        if key == "flags":
            if not set(value) <= set(finding.flags):
                return False
        elif key == "absent_flags":
            if set(value) & set(finding.flags):
                return False
        elif getattr(finding, key) != value:
            return False
    return True


def test_every_case_is_written(corpus: tuple[Path, dict[str, Expected]]) -> None:
    _root, expected = corpus
    for required in (
        "tls/chain.pem",
        "keys/encrypted-pkcs8.key",
        "bundles/open.p12",
        "bundles/protected.pfx",
        "ssh/id_ed25519",
        "certs/expired.pem",
        "certs/expiring.pem",
        "keys/rsa1024.key",
        "keys/dsa.pem",
        "keys/world-readable.key",
        "decoys/server.key",
        "decoys/binary.pem",
        "decoys/huge.pem",
        "app/.env",
        "jwks/keys.json",
        "gcp/service-account.json",
        "home/.kube/config",
        "ssh/authorized_keys",
        "ssh/known_hosts",
        "ssh/putty.ppk",
    ):
        assert required in expected
    if os.path.exists("/usr/bin/gpg"):
        assert "gpg/pubring.gpg" in expected


def test_candidates(
    corpus: tuple[Path, dict[str, Expected]], recognised: tuple[Recognised, dict[str, bool]]
) -> None:
    _root, expected = corpus
    _found, candidates = recognised
    wrong = {
        path: candidates[path] for path, e in expected.items() if candidates[path] != e.candidate
    }
    assert wrong == {}


def test_every_expected_fact_appears(
    corpus: tuple[Path, dict[str, Expected]], recognised: tuple[Recognised, dict[str, bool]]
) -> None:
    _root, expected = corpus
    found, _candidates = recognised
    linked = _linked(found)
    problems: list[str] = []
    for path, case in expected.items():
        findings = linked.get(path, [])
        if len(findings) != case.expected_count:
            problems.append(f"{path}: {len(findings)} findings, expected {case.expected_count}")
        for facts in case.findings:
            if not any(_matches(finding, facts) for finding in findings):
                problems.append(f"{path}: no finding with {facts}: {findings}")
    assert problems == []


def test_huge_file_is_not_parsed_even_when_handed_over(
    corpus: tuple[Path, dict[str, Expected]],
) -> None:
    root, _expected = corpus
    data = (root / "decoys/huge.pem").read_bytes()
    assert recognise("decoys/huge.pem", data, mode=0o600, uid=0, gid=0) == []


def test_mode_and_owner_recorded(recognised: tuple[Recognised, dict[str, bool]]) -> None:
    found, _candidates = recognised
    key = found["keys/world-readable.key"][0]
    assert key.mode == 0o644 and key.uid == os.getuid() and key.gid == os.getgid()
    public = found["keys/public.pem"][0]
    assert public.mode == 0o644 and "group-or-world-readable" not in public.flags


def _secret_leaks(text: bytes) -> list[bytes]:
    return [secret for secret in SECRETS if secret in text]


def test_no_secret_in_any_finding(
    corpus: tuple[Path, dict[str, Expected]], recognised: tuple[Recognised, dict[str, bool]]
) -> None:
    found, _candidates = recognised
    assert len(SECRETS) > 20
    everything = link([f for findings in found.values() for f in findings], NOW)
    document = json.dumps(Inventory(everything, NOW).to_dict()).encode()
    assert _secret_leaks(document) == []
    for finding in everything:
        assert _secret_leaks(repr(finding).encode()) == []


def test_secret_search_catches_a_leak(corpus: tuple[Path, dict[str, Expected]]) -> None:
    """Positive control: a finding carrying a secret (here a .env value) is caught."""
    leaky = Finding(kind="env_file", path="app/.env", name=SECRETS[-1].decode("latin-1"))
    assert _secret_leaks(json.dumps(leaky.to_dict()).encode()) != []
    root, _expected = corpus
    assert _secret_leaks((root / "app/.env").read_bytes())  # the corpus holds its values


def _without(found: Recognised, *paths: str) -> Recognised:
    return {path: findings for path, findings in found.items() if path not in paths}


def test_certificate_without_key_is_flagged(
    recognised: tuple[Recognised, dict[str, bool]],
) -> None:
    found, _candidates = recognised
    leaf = _linked(found)["tls/chain.pem"][0]
    assert "no-private-key" not in leaf.flags
    leaf = _linked(_without(found, "tls/server.key"))["tls/chain.pem"][0]
    assert leaf.name == "www.example.org" and "no-private-key" in leaf.flags
    chain = _linked(_without(found, "tls/server.key"))["tls/chain.pem"]
    assert all("no-private-key" not in cert.flags for cert in chain if cert.is_ca)


def test_key_without_certificate_is_flagged(
    recognised: tuple[Recognised, dict[str, bool]],
) -> None:
    found, _candidates = recognised
    assert "no-certificate" not in _linked(found)["tls/server.key"][0].flags
    assert "no-certificate" in _linked(_without(found, "tls/chain.pem"))["tls/server.key"][0].flags
    der = _linked(_without(found, "certs/der.cer"))["certs/der-key.der"][0]
    assert "no-certificate" in der.flags


def test_expiry_follows_now(recognised: tuple[Recognised, dict[str, bool]]) -> None:
    found, _candidates = recognised
    soon = found["certs/expiring.pem"]
    assert "expiring" not in link(soon, NOW, expiring_days=2)[0].flags
    later = datetime(2026, 6, 7, tzinfo=UTC)
    assert "expired" in link(soon, later)[0].flags
    relinked = link(link(soon, NOW), NOW)
    assert relinked == link(soon, NOW)  # idempotent: link flags are recomputed, not added
