"""Less common containers: PKCS#1 public keys, PKCS#7 bundles, OpenSSL's TRUSTED
CERTIFICATE and ``Bag Attributes`` output, JKS headers, a large CA bundle."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from tests.inventory_corpus import make_certificate, rsa_key, spki_fingerprint

from keyark.inventory.model import HEAD_BYTES, is_candidate, recognise

NOW = datetime(2026, 6, 1, tzinfo=UTC)
PEM = serialization.Encoding.PEM


def _self_signed(name: str, key: ec.EllipticCurvePrivateKey, serial: int = 7) -> bytes:
    cert = make_certificate(
        name,
        key.public_key(),
        key,
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=300),
        ca=True,
        serial=serial,
    )
    return cert.public_bytes(serialization.Encoding.DER)


def test_pkcs1_public_key() -> None:
    public = rsa_key(2048, 20).public_key()
    data = public.public_bytes(PEM, serialization.PublicFormat.PKCS1)
    assert data.startswith(b"-----BEGIN RSA PUBLIC KEY-----")
    (finding,) = recognise("k.pem", data, mode=0o644, uid=0, gid=0)
    assert finding.kind == "public_key" and finding.size == 2048
    assert finding.public_key_fingerprint == spki_fingerprint(public)


def test_pkcs7_bundle() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    certs = [x509.load_der_x509_certificate(_self_signed(f"p7-{i}", key, i + 1)) for i in range(2)]
    data = pkcs7.serialize_certificates(certs, PEM)
    found = recognise("bundle.p7b", data, mode=0o644, uid=0, gid=0)
    assert sorted(str(f.name) for f in found if f.kind == "certificate") == ["p7-0", "p7-1"]


def test_trusted_certificate_and_bag_attributes() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    der = _self_signed("trusted.example.org", key)
    aux = bytes.fromhex("300c300a06082b06010505070301")  # trust: serverAuth
    body = base64.encodebytes(der + aux)
    data = (
        b"Bag Attributes\n    friendlyName: x\nsubject=/CN=trusted.example.org\n"
        b"-----BEGIN TRUSTED CERTIFICATE-----\n" + body + b"-----END TRUSTED CERTIFICATE-----\n"
    )
    assert is_candidate("export.txt", len(data), data[:HEAD_BYTES])
    (finding,) = recognise("export.txt", data, mode=0o644, uid=0, gid=0)
    assert finding.kind == "certificate" and finding.name == "trusted.example.org"


def test_jks_header() -> None:
    data = b"\xfe\xed\xfe\xed" + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes(40)
    assert is_candidate("store", len(data), data[:HEAD_BYTES])
    (finding,) = recognise("store", data, mode=0o600, uid=0, gid=0)
    assert (finding.kind, finding.format, finding.count) == ("pkcs12", "JKS", 3)
    assert "protected-bundle" in finding.flags


def test_large_ca_bundle_parses_quickly() -> None:
    """A bundle of ~200 KiB of CA certificates (like ca-certificates.crt) is a candidate
    and every certificate is recognised."""
    key = ec.generate_private_key(ec.SECP256R1())
    blocks: list[bytes] = []
    while sum(map(len, blocks)) < 200 * 1024:
        der = _self_signed(f"Root {len(blocks)}", key, len(blocks) + 1)
        blocks.append(b"# Root %d\n" % len(blocks) + _pem(der))
    data = b"".join(blocks)
    assert is_candidate("etc/ssl/certs/ca-certificates.crt", len(data), data[:HEAD_BYTES])
    started = time.monotonic()
    found = recognise("ca-certificates.crt", data, mode=0o644, uid=0, gid=0)
    elapsed = time.monotonic() - started
    assert len(found) == len(blocks) and all(f.is_ca for f in found)
    assert elapsed < 10, elapsed


def _pem(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(PEM)
