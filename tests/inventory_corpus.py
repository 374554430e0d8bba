"""A generated corpus of key material for the inventory (issue 13 §4), with expected facts.

``make_corpus(root, now)`` writes every case under ``root`` and returns, per relative
path, the :class:`Expected` facts; ``SECRETS`` then holds byte strings (key material,
passphrases, ``.env`` values, JWK private members, tokens) that must never appear in
any finding, inventory or command output. Keys come from ``cryptography`` (RSA keys
cached per session); the GnuPG cases are written only when ``gpg`` is on PATH and the
commented OpenSSH key only when ``ssh-keygen`` is.

Used by the unit tests (tests/unit/test_inventory_*.py), the e2e tests and the benchmark.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
    PublicKeyTypes,
)
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER
NO_ENCRYPTION = serialization.NoEncryption()

#: Byte strings that must never appear in a finding or any output (filled by make_corpus).
SECRETS: list[bytes] = []
#: Passphrases and passwords used in the corpus.
PASSPHRASE = b"corpus passphrase 7f3a"
P12_PASSWORD = b"bundle password 91c2"
#: Size of the huge file (just above the candidate limit).
HUGE_SIZE = (1 << 20) + 1


@dataclass(frozen=True)
class Expected:
    """What recognition must find in one file of the corpus.

    ``findings``: for each, some finding of the file has every field given (``flags``:
    these flags at least; ``absent_flags``: none of these) after linking the whole
    corpus. ``count``: exact number of findings (default: ``len(findings)``).
    ``candidate``: what ``is_candidate`` must say.
    """

    findings: tuple[dict[str, Any], ...] = ()
    count: int | None = None
    candidate: bool = True
    mode: int = 0o600
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def expected_count(self) -> int:
        """The exact number of findings the file gives."""
        return len(self.findings) if self.count is None else self.count


@functools.cache
def rsa_key(bits: int, index: int = 0) -> rsa.RSAPrivateKey:
    """An RSA key of ``bits``, generated once per session per (bits, index)."""
    del index  # distinct cache entries give distinct keys
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@functools.cache
def _dsa_key() -> dsa.DSAPrivateKey:
    return dsa.generate_private_key(2048)


def spki_fingerprint(key: PublicKeyTypes) -> str:
    """``SHA256:<hex>`` of the SubjectPublicKeyInfo of ``key``."""
    der = key.public_bytes(DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "SHA256:" + hashes_sha256(der)


def hashes_sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize().hex()


def _remember_key(key: PrivateKeyTypes) -> None:
    """Add forms of ``key``'s private material to SECRETS."""
    pkcs8 = key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, NO_ENCRYPTION)
    body = b"".join(pkcs8.splitlines()[1:-1])
    SECRETS.extend([body[:64], body[-64:]])
    if isinstance(key, rsa.RSAPrivateKey):
        SECRETS.append(format(key.private_numbers().d, "x").encode())
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        SECRETS.append(format(key.private_numbers().private_value, "x").encode())
    elif isinstance(key, dsa.DSAPrivateKey):
        SECRETS.append(format(key.private_numbers().x, "x").encode())
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, NO_ENCRYPTION
        )
        SECRETS.extend([raw.hex().encode(), base64.b64encode(raw)])


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificate(
    subject: str,
    key: PublicKeyTypes,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    *,
    issuer: str | None = None,
    not_before: datetime,
    not_after: datetime,
    ca: bool = False,
    sans: tuple[str, ...] = (),
    serial: int = 1000,
) -> x509.Certificate:
    """A certificate for ``key`` signed by ``issuer_key`` with SHA-256 (Ed25519: none)."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer or subject))
        .public_key(key)  # type: ignore[arg-type]
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in sans]), critical=False
        )
    if isinstance(issuer_key, ed25519.Ed25519PrivateKey):
        return builder.sign(issuer_key, None)
    return builder.sign(issuer_key, hashes.SHA256())


_SHA256_RSA_OID = bytes.fromhex("06092a864886f70d01010b")
_LEGACY_OIDS = {"sha1": "06092a864886f70d010105", "md5": "06092a864886f70d010104"}
_LEGACY_NAMES = {"sha1": "sha1WithRSAEncryption", "md5": "md5WithRSAEncryption"}


def resign_rsa(
    cert: x509.Certificate, key: rsa.RSAPrivateKey, algorithm: hashes.HashAlgorithm
) -> x509.Certificate:
    """``cert`` (SHA-256 with RSA) re-signed with SHA-1 or MD5, which the certificate
    builder refuses: the signature OIDs are swapped (same length) and the TBS re-signed."""
    from cryptography.hazmat.primitives.asymmetric import padding

    oid = bytes.fromhex(_LEGACY_OIDS[algorithm.name])
    der = cert.public_bytes(DER).replace(_SHA256_RSA_OID, oid)
    tbs = cert.tbs_certificate_bytes.replace(_SHA256_RSA_OID, oid)
    signature = key.sign(tbs, padding.PKCS1v15(), algorithm)
    return x509.load_der_x509_certificate(der[: -len(signature)] + signature)


class _Writer:
    """Writes corpus files and collects their expectations."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.expected: dict[str, Expected] = {}

    def write(self, relative: str, data: bytes, expected: Expected) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.chmod(path, expected.mode)
        self.expected[relative] = expected
        return path


def make_corpus(root: Path, now: datetime) -> dict[str, Expected]:
    """Write the corpus under ``root``; the expected facts per relative path.

    ``now`` is the time the expiry cases are relative to (pass it to ``link``).
    """
    now = now.replace(microsecond=0)
    out = _Writer(root)
    _tls(out, now)
    _keys(out, now)
    _bundles(out, now)
    _ssh(out)
    _decoys(out)
    _documents(out, now)
    _gnupg(out)
    return out.expected


def _tls(out: _Writer, now: datetime) -> None:
    """A chain of three, its leaf key, expired/expiring/SHA-1 certificates, DER pairs."""
    year = timedelta(days=365)
    root_key, inter_key, leaf_key = rsa_key(2048, 1), rsa_key(2048, 2), rsa_key(2048, 3)
    root = make_certificate(
        "Corpus Root CA",
        root_key.public_key(),
        root_key,
        not_before=now - year,
        not_after=now + 10 * year,
        ca=True,
        serial=1,
    )
    inter = make_certificate(
        "Corpus Intermediate CA",
        inter_key.public_key(),
        root_key,
        issuer="Corpus Root CA",
        not_before=now - year,
        not_after=now + 5 * year,
        ca=True,
        serial=2,
    )
    leaf = make_certificate(
        "www.example.org",
        leaf_key.public_key(),
        inter_key,
        issuer="Corpus Intermediate CA",
        not_before=now - timedelta(days=10),
        not_after=now + year,
        sans=("www.example.org", "example.org"),
        serial=0xBEEF,
    )
    chain = b"".join(cert.public_bytes(PEM) for cert in (leaf, inter, root))
    leaf_facts = {
        "kind": "certificate",
        "name": "www.example.org",
        "subject": "CN=www.example.org",
        "issuer": "CN=Corpus Intermediate CA",
        "serial": "beef",
        "sans": ("www.example.org", "example.org"),
        "algorithm": "RSA",
        "size": 2048,
        "is_ca": False,
        "not_after": now + year,
        "not_before": now - timedelta(days=10),
        "signature_algorithm": "sha256WithRSAEncryption",
        "fingerprint": "SHA256:" + leaf.fingerprint(hashes.SHA256()).hex(),
        "public_key_fingerprint": spki_fingerprint(leaf_key.public_key()),
        "absent_flags": {"no-private-key", "expired", "expiring"},
    }
    out.write(
        "tls/chain.pem",
        chain,
        Expected(
            (
                leaf_facts,
                {"kind": "certificate", "name": "Corpus Intermediate CA", "is_ca": True},
                {"kind": "certificate", "name": "Corpus Root CA", "is_ca": True},
            ),
            mode=0o644,
        ),
    )
    _remember_key(leaf_key)
    out.write(
        "tls/server.key",
        leaf_key.private_bytes(PEM, serialization.PrivateFormat.TraditionalOpenSSL, NO_ENCRYPTION),
        Expected(
            (
                {
                    "kind": "private_key",
                    "algorithm": "RSA",
                    "size": 2048,
                    "encrypted": False,
                    "format": "PEM PKCS#1",
                    "public_key_fingerprint": spki_fingerprint(leaf_key.public_key()),
                    "flags": {"unencrypted"},
                    "absent_flags": {"no-certificate", "group-or-world-readable", "weak-rsa"},
                    "mode": 0o600,
                },
            )
        ),
    )
    expired_key = ec.generate_private_key(ec.SECP256R1())
    expired = make_certificate(
        "expired.example.org",
        expired_key.public_key(),
        expired_key,
        not_before=now - 2 * year,
        not_after=now - timedelta(days=10),
    )
    out.write(
        "certs/expired.pem",
        expired.public_bytes(PEM),
        Expected(
            (
                {
                    "kind": "certificate",
                    "name": "expired.example.org",
                    "algorithm": "EC secp256r1",
                    "size": 256,
                    "flags": {"expired", "no-private-key"},
                },
            ),
            mode=0o644,
        ),
    )
    soon_key = ec.generate_private_key(ec.SECP384R1())
    soon = make_certificate(
        "soon.example.org",
        soon_key.public_key(),
        soon_key,
        not_before=now - year,
        not_after=now + timedelta(days=5),
    )
    out.write(
        "certs/expiring.pem",
        soon.public_bytes(PEM),
        Expected(
            (
                {
                    "kind": "certificate",
                    "name": "soon.example.org",
                    "algorithm": "EC secp384r1",
                    "not_after": now + timedelta(days=5),
                    "flags": {"expiring"},
                    "absent_flags": {"expired"},
                },
            ),
            mode=0o644,
        ),
    )
    legacy_key = rsa_key(2048, 4)
    for algorithm, flag in ((hashes.SHA1(), "sha1-signature"), (hashes.MD5(), "md5-signature")):
        legacy = make_certificate(
            f"{algorithm.name}.example.org",
            legacy_key.public_key(),
            legacy_key,
            issuer="Legacy CA",
            not_before=now - year,
            not_after=now + year,
        )
        out.write(
            f"certs/{algorithm.name}.crt",
            resign_rsa(legacy, legacy_key, algorithm).public_bytes(PEM),
            Expected(
                (
                    {
                        "kind": "certificate",
                        "signature_algorithm": _LEGACY_NAMES[algorithm.name],
                        "flags": {flag},
                    },
                ),
                mode=0o644,
            ),
        )
    # A DER certificate and its DER PKCS#8 EC key: matched across files.
    der_key = ec.generate_private_key(ec.SECP256R1())
    der_cert = make_certificate(
        "der.example.org",
        der_key.public_key(),
        der_key,
        not_before=now - year,
        not_after=now + year,
    )
    der_spki = spki_fingerprint(der_key.public_key())
    out.write(
        "certs/der.cer",
        der_cert.public_bytes(DER),
        Expected(
            (
                {
                    "kind": "certificate",
                    "format": "DER",
                    "name": "der.example.org",
                    "public_key_fingerprint": der_spki,
                    "absent_flags": {"no-private-key"},
                },
            ),
            mode=0o644,
        ),
    )
    _remember_key(der_key)
    out.write(
        "certs/der-key.der",
        der_key.private_bytes(DER, serialization.PrivateFormat.PKCS8, NO_ENCRYPTION),
        Expected(
            (
                {
                    "kind": "private_key",
                    "format": "DER PKCS#8",
                    "public_key_fingerprint": der_spki,
                    "absent_flags": {"no-certificate"},
                },
            )
        ),
    )
    # SEC1 EC key and certificate in one file.
    both_key = ec.generate_private_key(ec.SECP256R1())
    both = make_certificate(
        "both.example.org",
        both_key.public_key(),
        both_key,
        not_before=now - year,
        not_after=now + year,
    )
    _remember_key(both_key)
    out.write(
        "tls/combined.pem",
        both.public_bytes(PEM)
        + both_key.private_bytes(
            PEM, serialization.PrivateFormat.TraditionalOpenSSL, NO_ENCRYPTION
        ),
        Expected(
            (
                {"kind": "certificate", "absent_flags": {"no-private-key"}},
                {"kind": "private_key", "format": "PEM SEC1", "absent_flags": {"no-certificate"}},
            )
        ),
    )


def _keys(out: _Writer, now: datetime) -> None:
    """Encrypted PKCS#8, legacy encrypted PEM, RSA-1024, DSA, a key at 0644, a public key."""
    del now
    encrypted_key = rsa_key(2048, 5)
    _remember_key(encrypted_key)
    SECRETS.append(PASSPHRASE)
    out.write(
        "keys/encrypted-pkcs8.key",
        encrypted_key.private_bytes(
            PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSPHRASE),
        ),
        Expected(
            (
                {
                    "kind": "private_key",
                    "encrypted": True,
                    "format": "PEM PKCS#8 encrypted",
                    "public_key_fingerprint": None,
                    "absent_flags": {"unencrypted"},
                },
            )
        ),
    )
    legacy = ec.generate_private_key(ec.SECP256R1())
    _remember_key(legacy)
    out.write(
        "keys/legacy-encrypted.key",
        legacy.private_bytes(
            PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.BestAvailableEncryption(PASSPHRASE),
        ),
        Expected(
            (
                {
                    "kind": "private_key",
                    "encrypted": True,
                    "algorithm": "EC",
                    "format": "PEM SEC1 encrypted",
                },
            )
        ),
    )
    weak = rsa_key(1024)
    _remember_key(weak)
    out.write(
        "keys/rsa1024.key",
        weak.private_bytes(PEM, serialization.PrivateFormat.PKCS8, NO_ENCRYPTION),
        Expected(
            (
                {
                    "kind": "private_key",
                    "algorithm": "RSA",
                    "size": 1024,
                    "format": "PEM PKCS#8",
                    "flags": {"weak-rsa", "unencrypted", "no-certificate"},
                },
            )
        ),
    )
    dsa_key = _dsa_key()
    _remember_key(dsa_key)
    out.write(
        "keys/dsa.pem",
        dsa_key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, NO_ENCRYPTION),
        Expected(({"kind": "private_key", "algorithm": "DSA", "flags": {"dsa"}},)),
    )
    world = ec.generate_private_key(ec.SECP256R1())
    _remember_key(world)
    out.write(
        "keys/world-readable.key",
        world.private_bytes(PEM, serialization.PrivateFormat.PKCS8, NO_ENCRYPTION),
        Expected(
            (
                {
                    "kind": "private_key",
                    "mode": 0o644,
                    "flags": {"group-or-world-readable", "unencrypted"},
                },
            ),
            mode=0o644,
        ),
    )
    public = rsa_key(2048, 6).public_key()
    out.write(
        "keys/public.pem",
        public.public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        Expected(
            (
                {
                    "kind": "public_key",
                    "algorithm": "RSA",
                    "size": 2048,
                    "public_key_fingerprint": spki_fingerprint(public),
                    "secret": False,
                },
            ),
            mode=0o644,
        ),
    )


def _bundles(out: _Writer, now: datetime) -> None:
    """PKCS#12 without a password and with one."""
    key = rsa_key(2048, 7)
    cert = make_certificate(
        "bundle.example.org",
        key.public_key(),
        key,
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=400),
    )
    _remember_key(key)
    open_bundle = pkcs12.serialize_key_and_certificates(b"bundle", key, cert, None, NO_ENCRYPTION)
    spki = spki_fingerprint(key.public_key())
    out.write(
        "bundles/open.p12",
        open_bundle,
        Expected(
            (
                {"kind": "pkcs12", "encrypted": False, "count": 1, "flags": {"unencrypted"}},
                {
                    "kind": "certificate",
                    "name": "bundle.example.org",
                    "public_key_fingerprint": spki,
                },
                {"kind": "private_key", "public_key_fingerprint": spki},
            )
        ),
    )
    openssl = shutil.which("openssl")
    if openssl is not None:  # an empty password: the builder refuses one, openssl does not
        with tempfile.TemporaryDirectory() as scratch:
            (Path(scratch) / "key.pem").write_bytes(
                key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, NO_ENCRYPTION)
            )
            (Path(scratch) / "cert.pem").write_bytes(cert.public_bytes(PEM))
            empty = subprocess.run(
                [
                    openssl,
                    "pkcs12",
                    "-export",
                    "-passout",
                    "pass:",
                    "-inkey",
                    f"{scratch}/key.pem",
                    "-in",
                    f"{scratch}/cert.pem",
                ],
                check=True,
                capture_output=True,
                timeout=60,
            ).stdout
        out.write(
            "bundles/empty-password.p12",
            empty,
            Expected(
                (
                    {"kind": "pkcs12", "encrypted": False, "count": 1},
                    {"kind": "certificate", "name": "bundle.example.org"},
                    {"kind": "private_key", "public_key_fingerprint": spki},
                )
            ),
        )
    SECRETS.append(P12_PASSWORD)
    protected = pkcs12.serialize_key_and_certificates(
        b"bundle", key, cert, None, serialization.BestAvailableEncryption(P12_PASSWORD)
    )
    out.write(
        "bundles/protected.pfx",
        protected,
        Expected(
            (
                {
                    "kind": "pkcs12",
                    "encrypted": True,
                    "flags": {"protected-bundle"},
                    "secret": True,
                },
            )
        ),
    )


def _ssh(out: _Writer) -> None:
    """OpenSSH keys (with a passphrase, and with a comment), public keys, authorized_keys,
    known_hosts, a PuTTY key."""
    key = ed25519.Ed25519PrivateKey.generate()
    _remember_key(key)
    public_line = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    blob = base64.b64decode(public_line.split()[1])
    blob_fingerprint = "SHA256:" + hashes_sha256(blob)
    spki = spki_fingerprint(key.public_key())
    out.write(
        "ssh/id_ed25519",
        key.private_bytes(
            PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.BestAvailableEncryption(PASSPHRASE),
        ),
        Expected(
            (
                {
                    "kind": "private_key",
                    "format": "OpenSSH",
                    "algorithm": "Ed25519",
                    "encrypted": True,
                    "fingerprint": blob_fingerprint,
                    "public_key_fingerprint": spki,
                    "absent_flags": {"unencrypted", "no-certificate"},
                },
            )
        ),
    )
    out.write(
        "ssh/id_ed25519.pub",
        public_line + b" alice@laptop\n",
        Expected(
            (
                {
                    "kind": "ssh_public_key",
                    "name": "alice@laptop",
                    "algorithm": "Ed25519",
                    "fingerprint": blob_fingerprint,
                    "public_key_fingerprint": spki,
                },
            ),
            mode=0o644,
        ),
    )
    rsa_line = (
        rsa_key(2048, 8)
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    ecdsa_line = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    authorized = b"\n".join(
        [
            b"# deploy keys",
            public_line + b" alice@laptop",
            b'from="10.0.0.0/8",no-pty ' + rsa_line + b" ci@build",
            b'command="/usr/bin/backup" ' + ecdsa_line,
            b"",
        ]
    )
    out.write(
        "ssh/authorized_keys",
        authorized,
        Expected(
            ({"kind": "authorized_keys", "count": 3, "names": ("alice@laptop", "ci@build")},),
            mode=0o644,
        ),
    )
    known = b"\n".join(
        [
            b"github.com,140.82.121.4 " + ecdsa_line,
            b"|1|c2FsdHNhbHRzYWx0c2FsdHNhbHQ=|aGFzaGhhc2hoYXNoaGFzaGhhc2g= " + rsa_line,
            b"[git.internal]:2222 " + public_line,
            b"",
        ]
    )
    out.write(
        "ssh/known_hosts",
        known,
        Expected(({"kind": "known_hosts", "count": 3, "names": ()},), mode=0o644),
    )
    out.write(
        "backup/known_hosts.old",
        known,
        Expected(({"kind": "known_hosts", "count": 3},), mode=0o644),
    )
    _putty(out)
    keygen = shutil.which("ssh-keygen")
    if keygen is not None:
        with tempfile.TemporaryDirectory() as scratch:
            target = Path(scratch) / "key"
            subprocess.run(
                [
                    keygen,
                    "-q",
                    "-t",
                    "ecdsa",
                    "-b",
                    "256",
                    "-N",
                    "",
                    "-C",
                    "deploy@example.org",
                    "-f",
                    str(target),
                ],
                check=True,
                capture_output=True,
            )
            private = target.read_bytes()
        loaded = serialization.load_ssh_private_key(private, None)
        _remember_key(loaded)
        out.write(
            "ssh/id_ecdsa",
            private,
            Expected(
                (
                    {
                        "kind": "private_key",
                        "name": "deploy@example.org",
                        "algorithm": "EC secp256r1",
                        "encrypted": False,
                        "flags": {"unencrypted"},
                        "absent_flags": {"no-certificate"},
                    },
                )
            ),
        )


def _putty(out: _Writer) -> None:
    """A PuTTY v3 key whose private lines are (random) encrypted data."""
    key = ed25519.Ed25519PrivateKey.generate()
    line = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    public = line.split()[1]
    private = base64.b64encode(os.urandom(48))
    SECRETS.append(private)
    text = b"\n".join(
        [
            b"PuTTY-User-Key-File-3: ssh-ed25519",
            b"Encryption: aes256-cbc",
            b"Comment: putty@workstation",
            b"Public-Lines: 2",
            public[:64],
            public[64:],
            b"Key-Derivation: Argon2id",
            b"Argon2-Memory: 8192",
            b"Argon2-Passes: 21",
            b"Argon2-Parallelism: 1",
            b"Argon2-Salt: 0123456789abcdef0123456789abcdef",
            b"Private-Lines: 1",
            private,
            b"Private-MAC: " + os.urandom(32).hex().encode(),
            b"",
        ]
    )
    out.write(
        "ssh/putty.ppk",
        text,
        Expected(
            (
                {
                    "kind": "private_key",
                    "format": "PuTTY v3",
                    "name": "putty@workstation",
                    "algorithm": "Ed25519",
                    "encrypted": True,
                    "public_key_fingerprint": spki_fingerprint(key.public_key()),
                },
            )
        ),
    )


def _decoys(out: _Writer) -> None:
    """A non-key named server.key, a binary -----BEGIN file, a huge file, truncated PEM."""
    out.write("decoys/server.key", b"this is not a key, just notes\n", Expected())
    out.write(
        "decoys/binary.pem",
        b"-----BEGIN CERTIFICATE-----\n" + bytes(range(256)) * 16 + b"\x00\xff",
        Expected(),
    )
    huge = b"-----BEGIN CERTIFICATE-----\n" + b"A" * (HUGE_SIZE - 28)
    out.write("decoys/huge.pem", huge, Expected(candidate=False))
    good = rsa_key(2048, 9).private_bytes(PEM, serialization.PrivateFormat.PKCS8, NO_ENCRYPTION)
    _remember_key(rsa_key(2048, 9))
    out.write("decoys/truncated.pem", good[: len(good) // 2], Expected())
    out.write("decoys/notes.json", b'{"name": "not a key", "size": 3}', Expected())
    out.write("decoys/plain.txt", b"hello world\n", Expected(candidate=False))


def _documents(out: _Writer, now: datetime) -> None:
    """.env, JWKS, service account, kubeconfig."""
    values = [b"sk_live_4eC39HqLyjWDarjtT1zdp7dc", b"hunter2-db-pass", b"ghp_corpusToken0123456789"]
    SECRETS.extend(values)
    env = b"\n".join(
        [
            b"# application settings",
            b"PORT=8080",
            b"DEBUG=true",
            b"STRIPE_API_KEY=" + values[0],
            b'export DB_PASSWORD="' + values[1] + b'"',
            b"GITHUB_TOKEN=" + values[2],
            b"",
        ]
    )
    out.write(
        "app/.env",
        env,
        Expected(
            (
                {
                    "kind": "env_file",
                    "count": 5,
                    "names": ("STRIPE_API_KEY", "DB_PASSWORD", "GITHUB_TOKEN"),
                    "flags": {"group-or-world-readable"},
                },
            ),
            mode=0o644,
        ),
    )
    _jwks(out)
    _service_account(out)
    _kubeconfig(out, now)


def _b64url(value: int | bytes) -> str:
    if isinstance(value, int):
        value = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


def _jwks(out: _Writer) -> None:
    rsa_public = rsa_key(2048, 10).public_key().public_numbers()
    ec_key = ec.generate_private_key(ec.SECP256R1())
    numbers = ec_key.private_numbers()
    d = _b64url(numbers.private_value)
    secret_k = _b64url(os.urandom(32))
    SECRETS.extend([d.encode(), secret_k.encode()])
    _remember_key(ec_key)
    document = {
        "keys": [
            {
                "kty": "RSA",
                "kid": "rsa-signing",
                "use": "sig",
                "n": _b64url(rsa_public.n),
                "e": _b64url(rsa_public.e),
            },
            {
                "kty": "EC",
                "kid": "ec-private",
                "crv": "P-256",
                "x": _b64url(numbers.public_numbers.x),
                "y": _b64url(numbers.public_numbers.y),
                "d": d,
            },
            {"kty": "oct", "kid": "hmac", "k": secret_k},
        ]
    }
    out.write(
        "jwks/keys.json",
        json.dumps(document, indent=2).encode(),
        Expected(
            (
                {
                    "kind": "jwk",
                    "name": "rsa-signing",
                    "algorithm": "RSA",
                    "size": 2048,
                    "secret": False,
                    "count": 3,
                },
                {
                    "kind": "jwk",
                    "name": "ec-private",
                    "algorithm": "EC secp256r1",
                    "secret": True,
                    "flags": {"unencrypted"},
                    "public_key_fingerprint": spki_fingerprint(ec_key.public_key()),
                },
                {"kind": "jwk", "name": "hmac", "algorithm": "oct", "size": 256, "secret": True},
            )
        ),
    )


def _service_account(out: _Writer) -> None:
    key = rsa_key(2048, 11)
    _remember_key(key)
    pem = key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, NO_ENCRYPTION).decode()
    document = {
        "type": "service_account",
        "project_id": "corpus-project",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": pem,
        "client_email": "backup@corpus-project.iam.gserviceaccount.com",
        "client_id": "123456789012345678901",
    }
    out.write(
        "gcp/service-account.json",
        json.dumps(document, indent=2).encode(),
        Expected(
            (
                {
                    "kind": "service_account",
                    "name": "backup@corpus-project.iam.gserviceaccount.com",
                    "key_id": "0123456789abcdef0123456789abcdef01234567",
                    "subject": "service_account",
                },
                {
                    "kind": "private_key",
                    "algorithm": "RSA",
                    "size": 2048,
                    "public_key_fingerprint": spki_fingerprint(key.public_key()),
                    "absent_flags": {"no-certificate"},
                },
            )
        ),
    )


def _kubeconfig(out: _Writer, now: datetime) -> None:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = make_certificate(
        "kubernetes-ca",
        ca_key.public_key(),
        ca_key,
        not_before=now - timedelta(days=300),
        not_after=now + timedelta(days=3000),
        ca=True,
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    _remember_key(client_key)
    client = make_certificate(
        "kubernetes-admin",
        client_key.public_key(),
        ca_key,
        issuer="kubernetes-ca",
        not_before=now - timedelta(days=300),
        not_after=now + timedelta(days=20),
    )
    token = b"eyJhbGciOiJSUzI1NiJ9.corpus-token-payload.signature"
    SECRETS.append(token)

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    key_pem = client_key.private_bytes(
        PEM, serialization.PrivateFormat.TraditionalOpenSSL, NO_ENCRYPTION
    )
    SECRETS.append(b64(key_pem)[:60].encode())
    text = f"""apiVersion: v1
kind: Config
current-context: admin@corpus
clusters:
- name: corpus
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: {b64(ca.public_bytes(PEM))}
contexts:
- name: admin@corpus
  context: {{cluster: corpus, user: admin}}
users:
- name: admin
  user:
    client-certificate-data: {b64(client.public_bytes(PEM))}
    client-key-data: {b64(key_pem)}
- name: robot
  user:
    token: {token.decode()}
"""
    out.write(
        "home/.kube/config",
        text.encode(),
        Expected(
            (
                {
                    "kind": "kubeconfig",
                    "name": "admin@corpus",
                    "count": 2,
                    "names": ("admin", "robot"),
                    "secret": True,
                },
                {
                    "kind": "certificate",
                    "name": "kubernetes-admin",
                    "not_after": now + timedelta(days=20),
                    "flags": {"expiring"},
                    "absent_flags": {"no-private-key"},
                },
                {"kind": "certificate", "name": "kubernetes-ca", "is_ca": True},
                {
                    "kind": "private_key",
                    "name": "admin",
                    "format": "kubeconfig",
                    "public_key_fingerprint": spki_fingerprint(client_key.public_key()),
                },
            )
        ),
    )


def _gnupg(out: _Writer) -> None:
    """A public keyring and an armored secret key, when gpg is on PATH."""
    gpg = shutil.which("gpg")
    if gpg is None:
        return
    with tempfile.TemporaryDirectory() as home:
        os.chmod(home, 0o700)
        env = {**os.environ, "GNUPGHOME": home}
        base = [gpg, "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""]
        try:
            subprocess.run(
                [
                    *base,
                    "--quick-gen-key",
                    "Corpus Signer <signer@example.org>",
                    "ed25519",
                    "sign",
                    "1y",
                ],
                check=True,
                capture_output=True,
                env=env,
                timeout=60,
            )
            public = subprocess.run(
                [*base, "--export"], check=True, capture_output=True, env=env, timeout=60
            ).stdout
            secret = subprocess.run(
                [*base, "--armor", "--export-secret-keys"],
                check=True,
                capture_output=True,
                env=env,
                timeout=60,
            ).stdout
        finally:
            subprocess.run(
                ["gpgconf", "--kill", "all"], env=env, capture_output=True, check=False, timeout=30
            )
    body = [line for line in secret.splitlines() if line and b":" not in line and b"-" not in line]
    SECRETS.extend(line for line in body[2:4] if len(line) >= 32)
    facts = {
        "kind": "gpg_keyring",
        "name": "Corpus Signer <signer@example.org>",
        "algorithm": "EdDSA ed25519",
    }
    out.write(
        "gpg/pubring.gpg",
        public,
        Expected(({**facts, "secret": False},), mode=0o644, extra={"needs": "gpg"}),
    )
    out.write(
        "gpg/secret.asc",
        secret,
        Expected(({**facts, "secret": True},), extra={"needs": "gpg"}),
    )
