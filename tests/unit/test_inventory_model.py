"""The inventory model: round trips, validation of stored (untrusted) inventories,
candidates, fingerprints, link flags, and GnuPG isolation."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from keyark.errors import FormatError
from keyark.inventory.model import (
    MAX_CANDIDATE_SIZE,
    Finding,
    Inventory,
    is_candidate,
    link,
    normalise_fingerprint,
    parser_failures,
    recognise,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
FULL = Finding(
    kind="certificate",
    path="/etc/ssl/x.pem",
    name="x.example.org",
    algorithm="RSA",
    size=2048,
    fingerprint="SHA256:" + "ab" * 32,
    public_key_fingerprint="SHA256:" + "cd" * 32,
    subject="CN=x.example.org",
    issuer="CN=CA",
    serial="beef",
    sans=("x.example.org", "y.example.org"),
    signature_algorithm="sha256WithRSAEncryption",
    is_ca=False,
    not_before=NOW - timedelta(days=1),
    not_after=NOW + timedelta(days=90),
    encrypted=None,
    count=None,
    names=("A",),
    mode=0o644,
    uid=1000,
    gid=1000,
    flags=("expiring",),
    format="PEM",
    key_id=None,
    secret=False,
)


def test_round_trip() -> None:
    assert Finding.from_dict(FULL.to_dict()) == FULL
    inventory = Inventory([FULL, Finding(kind="env_file", path=".env")], NOW)
    again = Inventory.from_dict(inventory.to_dict())
    assert again.findings == inventory.findings and again.created == NOW


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kind", 3),
        ("kind", "Not A Kind!"),
        ("path", None),
        ("size", -1),
        ("size", "2048"),
        ("size", True),
        ("fingerprint", "sha256:zz"),
        ("fingerprint", "SHA256:" + "ab" * 200),
        ("not_after", "2026-06-01T00:00:00"),  # no time zone
        ("not_after", "yesterday"),
        ("sans", "x.example.org"),
        ("sans", [1, 2]),
        ("flags", ["BAD FLAG"]),
        ("mode", 1 << 20),
        ("uid", -5),
        ("is_ca", "yes"),
        ("secret", 1),
        ("name", "x" * 5000),
    ],
)
def test_malformed_finding_is_refused(field: str, value: Any) -> None:
    data = FULL.to_dict()
    data[field] = value
    with pytest.raises(FormatError):
        Finding.from_dict(data)


def test_malformed_inventory_is_refused() -> None:
    good = Inventory([FULL], NOW).to_dict()
    for broken in (
        {**good, "version": 99},
        {**good, "findings": "nope"},
        {**good, "findings": [1]},
        {**good, "created": 5},
        [good],
    ):
        with pytest.raises(FormatError):
            Inventory.from_dict(broken)  # type: ignore[arg-type]


def test_unknown_flags_of_a_later_version_are_kept() -> None:
    data = FULL.to_dict()
    data["flags"] = ["expiring", "quantum-weak"]
    assert Finding.from_dict(data).flags == ("expiring", "quantum-weak")


@pytest.mark.parametrize(
    ("name", "size", "head", "expected"),
    [
        ("etc/ssl/server.pem", 100, b"", True),
        ("keys/id_rsa", 100, b"", True),
        ("x/known_hosts", 100, b"", True),
        ("home/.kube/config", 100, b"", True),
        ("home/project/config", 100, b"apiVersion: v1\n", True),
        ("home/project/config", 100, b"[core]\n", False),
        ("a/notes.txt", 100, b"-----BEGIN CERTIFICATE-----", True),
        ("a/notes.txt", 100, b"\n  -----BEGIN CERTIFICATE-----", True),
        ("a/blob", 100, b"\x30\x82\x01\x00", True),
        ("a/blob", 100, b"\x99\x00\x33\x04\x6b\x0f\x81\x30", True),  # OpenPGP public key
        ("a/blob", 100, b"\x99\x00\x33\x09\x6b\x0f\x81\x30", False),  # bad version
        ("a/photo.jpg", 100, b"\xff\xd8\xff\xe0", False),
        ("a/server.pem", MAX_CANDIDATE_SIZE + 1, b"-----BEGIN", False),
        ("a/server.pem", 0, b"", False),
        ("a/.env.production", 100, b"A=1", True),
    ],
)
def test_is_candidate(name: str, size: int, head: bytes, expected: bool) -> None:
    assert is_candidate(name, size, head) is expected


def test_normalise_fingerprint() -> None:
    digest = bytes(range(32))
    hexed = "SHA256:" + digest.hex()
    openssh = "SHA256:" + base64.b64encode(digest).decode().rstrip("=")
    assert normalise_fingerprint(openssh) == hexed
    assert normalise_fingerprint(hexed.upper().replace("SHA256:", "sha256:")) == hexed
    assert normalise_fingerprint(digest.hex().upper()) == hexed
    assert normalise_fingerprint("SHA256:short") is None


def test_ssh_fingerprint_matches_ssh_keygen(tmp_path: Path) -> None:
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        pytest.skip("ssh-keygen is not installed")
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    (tmp_path / "k.pub").write_bytes(line + b" me@host\n")
    shown = subprocess.run(
        [keygen, "-l", "-E", "sha256", "-f", str(tmp_path / "k.pub")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[1]
    (finding,) = recognise("k.pub", line + b" me@host\n", mode=0o644, uid=0, gid=0)
    assert finding.fingerprint == normalise_fingerprint(shown)


def test_link_expiry_and_pairs() -> None:
    cert = replace(FULL, flags=(), not_after=NOW + timedelta(days=10))
    key = Finding(
        kind="private_key",
        path="/etc/ssl/x.key",
        public_key_fingerprint=cert.public_key_fingerprint,
        format="PEM PKCS#8",
        secret=True,
    )
    linked = link([cert, key], NOW)
    assert linked[0].flags == ("expiring",) and linked[1].flags == ()
    assert link([cert], NOW, expiring_days=5)[0].flags == ("no-private-key",)
    assert link([key], NOW)[0].flags == ("no-certificate",)
    expired = link([replace(cert, not_after=NOW)], NOW)[0]
    assert "expired" in expired.flags
    ca = replace(cert, is_ca=True, not_after=NOW + timedelta(days=900))
    assert link([ca], NOW)[0].flags == ()
    ssh_key = replace(key, format="OpenSSH")
    assert link([ssh_key], NOW)[0].flags == ()


def test_encrypted_key_of_unknown_public_key_spares_its_neighbour() -> None:
    cert = replace(FULL, flags=(), not_after=NOW + timedelta(days=400))
    locked = Finding(
        kind="private_key",
        path="/etc/ssl/x.key",
        encrypted=True,
        format="PEM PKCS#8 encrypted",
        secret=True,
    )
    linked = link([cert, locked], NOW)
    assert linked[0].flags == () and linked[1].flags == ()
    elsewhere = replace(locked, path="/srv/x.key")
    linked = link([cert, elsewhere], NOW)
    assert linked[0].flags == ("no-private-key",) and linked[1].flags == ("no-certificate",)


def _gpg_public_key(home: Path) -> bytes:
    env = {**os.environ, "GNUPGHOME": str(home)}
    base = ["gpg", "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""]
    try:
        subprocess.run(
            [*base, "--quick-gen-key", "Isolation <iso@example.org>", "ed25519", "sign", "1y"],
            check=True,
            capture_output=True,
            env=env,
            timeout=60,
        )
        return subprocess.run(
            [*base, "--export"], check=True, capture_output=True, env=env, timeout=60
        ).stdout
    finally:
        subprocess.run(["gpgconf", "--kill", "all"], env=env, capture_output=True, check=False)


def _listing(directory: Path) -> dict[str, int]:
    return {str(p.relative_to(directory)): p.stat().st_size for p in directory.rglob("*")}


@pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed")
def test_gnupg_never_touches_the_users_keyring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    maker = tmp_path / "maker"
    maker.mkdir(mode=0o700)
    exported = _gpg_public_key(maker)
    user_home = tmp_path / "user-gnupg"
    user_home.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(user_home))
    before_temp = set(Path(tempfile.gettempdir()).glob("keyark-gpg-*"))
    (finding,) = recognise("pubring.gpg", exported, mode=0o644, uid=0, gid=0)
    assert finding.kind == "gpg_keyring" and finding.name == "Isolation <iso@example.org>"
    assert finding.fingerprint is not None and finding.fingerprint.startswith("OPENPGP:")
    assert _listing(user_home) == {}
    assert set(Path(tempfile.gettempdir()).glob("keyark-gpg-*")) == before_temp
    # Positive control: a plain import would have written into that keyring.
    subprocess.run(
        ["gpg", "--batch", "--no-autostart", "--import"],
        input=exported,
        capture_output=True,
        check=False,
    )
    assert _listing(user_home) != {}


def test_gnupg_without_gpg_is_a_bare_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    data = b"\x99\x00\x33\x04" + bytes(60)
    (finding,) = recognise("pubring.gpg", data, mode=0o644, uid=0, gid=0)
    assert finding == Finding(
        kind="gpg_keyring", path="pubring.gpg", format="OpenPGP", mode=0o644, uid=0, gid=0
    )


def test_known_hosts_by_shape_and_no_host_names() -> None:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    data = b"secret-host.internal " + line + b"\nother.internal " + line + b"\n"
    (finding,) = recognise("hosts-copy", data, mode=0o644, uid=0, gid=0)
    assert finding.kind == "known_hosts" and finding.count == 2
    assert b"internal" not in repr(finding).encode()


def test_env_file_never_records_values() -> None:
    data = b"API_TOKEN=abcdef123456\nNAME=app\n# comment\nSECRET_KEY='q w e'\n"
    (finding,) = recognise("x/.env", data, mode=0o600, uid=0, gid=0)
    assert finding.names == ("API_TOKEN", "SECRET_KEY") and finding.count == 3
    assert b"abcdef" not in repr(finding).encode() and b"q w e" not in repr(finding).encode()
    assert (
        recognise("x/.env", b"just some prose\nno assignments here\n", mode=0, uid=0, gid=0) == []
    )


def test_a_failing_parser_is_counted_not_raised() -> None:
    """Malformed YAML in a kubeconfig makes its parser fail: counted, no exception."""
    before = parser_failures().get("kubeconfig_findings", 0)
    found = recognise(".kube/config", b"apiVersion: v1\nkind: [unclosed\n", mode=0, uid=0, gid=0)
    assert found == []
    assert parser_failures().get("kubeconfig_findings", 0) == before + 1


def test_env_file_with_a_multiline_key() -> None:
    """A quoted value spanning lines (a PEM key) is one variable; the key is recognised
    too, and its bytes are recorded nowhere."""
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    data = b'APP=web\nJWT_PRIVATE_KEY="' + pem + b'"\nPORT=80\n'
    found = recognise("srv/.env", data, mode=0o640, uid=0, gid=0)
    kinds = {finding.kind: finding for finding in found}
    assert kinds["env_file"].count == 3 and kinds["env_file"].names == ("JWT_PRIVATE_KEY",)
    assert kinds["private_key"].algorithm == "Ed25519"
    assert all("group-or-world-readable" in finding.flags for finding in found)
    body = pem.splitlines()[1]
    assert body not in repr(found).encode()


def test_gpg_runs_for_keyrings_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Encrypted messages (a password store's ``*.gpg``, armored ``PGP MESSAGE``) never
    start gpg; a keyring does (positive control), seen through a stand-in ``gpg``."""
    marker = tmp_path / "ran"
    fake = tmp_path / "bin" / "gpg"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\ncat >/dev/null\necho run >> {marker}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    message = b"\x85\x01\x0c\x03" + bytes(60)  # public-key encrypted session key packet
    armored = b"-----BEGIN PGP MESSAGE-----\n\nhQEMA1234\n-----END PGP MESSAGE-----\n"
    for name, data in (("pass/site.gpg", message), ("note.asc", armored)):
        assert recognise(name, data, mode=0o600, uid=0, gid=0) == []
    assert not marker.exists()
    keyring = b"\x99\x00\x33\x04" + bytes(60)
    assert recognise("pubring.gpg", keyring, mode=0o600, uid=0, gid=0) == []
    assert marker.read_text() == "run\n"
