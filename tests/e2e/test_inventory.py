"""The key and certificate inventory through the installed ``keyark`` (issue 13).

The generated corpus (tests/inventory_corpus.py) is backed up; every expected fact is
in ``inventory --json``, the filters select what they say, and no secret of the
corpus appears in any output, the stored snapshot document or the local cache.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tests.conftest import CLI
from tests.e2e.agent_cli import run_as_agent
from tests.inventory_corpus import SECRETS, Expected, make_certificate, make_corpus
from tests.json_lines import last_json

from keyark.inventory.model import Finding


def _findings(result: subprocess.CompletedProcess[str]) -> list[Finding]:
    document = json.loads(result.stdout)
    return [Finding.from_dict(item) for item in document["findings"]]


def _has_facts(finding: Finding, facts: dict[str, Any]) -> bool:
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


def _check_expected(findings: list[Finding], root: Path, expected: dict[str, Expected]) -> None:
    for relative, facts in expected.items():
        here = [f for f in findings if f.path == str(root / relative)]
        assert len(here) == facts.expected_count, (relative, here)
        for wanted in facts.findings:
            assert any(_has_facts(f, wanted) for f in here), (relative, wanted, here)


def _paths(findings: list[Finding], root: Path) -> set[str]:
    return {str(Path(f.path).relative_to(root)) for f in findings}


def test_corpus_facts_filters_find_and_no_secret_anywhere(cli: CLI, tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    expected = make_corpus(root, datetime.now(UTC))
    outputs: list[str] = []

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = cli.run(*args, check=True)
        outputs.extend([result.stdout, result.stderr])
        return result

    run("init")
    run("backup", str(root), "--json")
    findings = _findings(run("inventory", "--json"))
    _check_expected(findings, root, expected)

    expiring = _paths(_findings(run("inventory", "--expiring", "30d", "--json")), root)
    assert "certs/expiring.pem" in expiring and "tls/chain.pem" not in expiring
    weak = _paths(_findings(run("inventory", "--weak", "--json")), root)
    assert {"keys/rsa1024.key", "keys/dsa.pem", "keys/world-readable.key"} <= weak
    assert "keys/encrypted-pkcs8.key" not in weak
    certs = _findings(run("inventory", "latest", "--kind", "cert", "--json"))
    assert certs and {f.kind for f in certs} == {"certificate"}
    table = run("inventory", "--weak")
    assert "keys/rsa1024.key" in table.stdout and "weak-rsa" in table.stdout

    leaf = next(f for f in findings if f.path.endswith("tls/chain.pem") and f.is_ca is False)
    assert leaf.public_key_fingerprint is not None
    found = json.loads(run("find", "--fingerprint", leaf.public_key_fingerprint, "--json").stdout)
    holders = {Path(item["path"]).relative_to(root).as_posix() for item in found["results"]}
    assert {"tls/chain.pem", "tls/server.key"} <= holders
    run("find", "--fingerprint", leaf.public_key_fingerprint)  # the table too

    outputs.append(run("debug", "cat", "snapshot", "latest").stdout)
    # Positive control: the search below finds a key's bytes where they are (dump).
    dumped = cli.run("dump", "latest", str(root / "keys/world-readable.key"), check=True).stdout
    assert any(secret.decode("latin-1") in dumped for secret in SECRETS)
    cached = b"".join(p.read_bytes() for p in cli.cache.rglob("*") if p.is_file())
    for secret in SECRETS:
        assert secret not in cached
        for text in outputs:
            assert secret.decode("latin-1") not in text


def _certificate(key: ec.EllipticCurvePrivateKey, days: int, serial: int) -> bytes:
    now = datetime.now(UTC)
    cert = make_certificate(
        "renew.example",
        key.public_key(),
        key,
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=days),
        serial=serial,
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey, passphrase: bytes | None = None) -> bytes:
    protection: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, protection
    )


def test_diff_across_a_renewal_a_replacement_and_a_protection_change(
    cli: CLI, tmp_path: Path
) -> None:
    source = tmp_path / "tls"
    source.mkdir()
    site, signing = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    (source / "site.crt").write_bytes(_certificate(site, 5, 1))
    (source / "site.key").write_bytes(_key_pem(site))
    (source / "signing.key").write_bytes(_key_pem(signing))
    (source / "old.key").write_bytes(_key_pem(ec.generate_private_key(ec.SECP256R1())))
    cli.run("init", check=True)
    first = last_json(cli.run("backup", str(source), "--json", check=True).stdout)["snapshot_id"]

    renewed_key = ec.generate_private_key(ec.SECP256R1())
    (source / "site.crt").write_bytes(_certificate(renewed_key, 90, 2))  # renewal, new key
    (source / "site.key").write_bytes(_key_pem(renewed_key))  # replaced at the same path
    (source / "signing.key").write_bytes(_key_pem(signing, b"now protected"))
    (source / "old.key").unlink()
    (source / "new.key").write_bytes(_key_pem(ec.generate_private_key(ec.SECP256R1())))
    cli.run("backup", str(source), check=True)

    changes = json.loads(cli.run("inventory", "diff", first, "latest", "--json", check=True).stdout)
    assert [c["new"]["subject"] for c in changes["renewed"]] == ["CN=renew.example"]
    renewal = changes["renewed"][0]
    assert renewal["new"]["not_after"] > renewal["old"]["not_after"]
    assert [Path(c["new"]["path"]).name for c in changes["replaced"]] == ["site.key"]
    protected = changes["protection_changed"]
    assert [
        (Path(c["new"]["path"]).name, c["old"]["encrypted"], c["new"]["encrypted"])
        for c in protected
    ] == [("signing.key", False, True)]
    assert [Path(f["path"]).name for f in changes["added"]] == ["new.key"]
    assert [Path(f["path"]).name for f in changes["removed"]] == ["old.key"]
    plain = cli.run("inventory", "diff", first, "latest", check=True).stdout
    assert "renewed 1" in plain and "replaced 1" in plain and "protection changed 1" in plain
    # 'diff' is the subcommand, never a snapshot named diff; a snapshot id still lists.
    listed = json.loads(cli.run("inventory", first[:8], "--json", check=True).stdout)
    assert listed["snapshot_id"] == first and listed["built"]


def test_build_for_a_snapshot_without_inventory(cli: CLI, tmp_path: Path) -> None:
    source = tmp_path / "keys"
    source.mkdir()
    key = ec.generate_private_key(ec.SECP256R1())
    (source / "a.key").write_bytes(_key_pem(key))
    (source / "a.crt").write_bytes(_certificate(key, 5, 7))
    cli.run("init", check=True)
    cli.run("backup", str(source), "--no-inventory", check=True)
    before = json.loads(cli.run("inventory", "--json", check=True).stdout)
    assert before["built"] is False and before["findings"] == []
    diff = cli.run("inventory", "diff", "latest", "latest")
    assert diff.returncode != 0 and "no key and certificate inventory" in diff.stderr
    assert "inventory build" in diff.stderr and "Traceback" not in diff.stderr

    built = json.loads(cli.run("inventory", "build", "latest", "--json", check=True).stdout)
    assert list(built["built"].values()) == [2]
    after = json.loads(cli.run("inventory", "--json", check=True).stdout)
    assert after["built"] and after["source"] == "sidecar"
    assert {f["kind"] for f in after["findings"]} == {"certificate", "private_key"}
    # The next backup takes the unchanged files' findings over from the built inventory.
    cli.run("backup", str(source), check=True)
    again = json.loads(cli.run("inventory", "--json", check=True).stdout)
    assert again["source"] == "snapshot"
    assert sorted(f["fingerprint"] for f in again["findings"]) == sorted(
        f["fingerprint"] for f in after["findings"]
    )


def test_an_agent_backup_carries_its_inventory(cli: CLI, agent: Path, tmp_path: Path) -> None:
    source = tmp_path / "agent-keys"
    source.mkdir()
    key = ec.generate_private_key(ec.SECP256R1())
    (source / "host.key").write_bytes(_key_pem(key))
    (source / "host.key").chmod(0o644)
    done = run_as_agent(cli, agent, "backup", str(source), "--json")
    assert done.returncode == 0, done.stderr
    listed = json.loads(cli.run("inventory", "--json", check=True).stdout)
    assert listed["built"] and listed["source"] == "snapshot"
    assert listed["snapshot"]["agent"] == "web1"
    [finding] = listed["findings"]
    assert finding["kind"] == "private_key" and "group-or-world-readable" in finding["flags"]
    # An unchanged file of the agent's next backup (its file cache) is still inventoried.
    assert run_as_agent(cli, agent, "backup", str(source)).returncode == 0
    again = json.loads(cli.run("inventory", "--json", check=True).stdout)
    assert [f["fingerprint"] for f in again["findings"]] == [finding["fingerprint"]]
