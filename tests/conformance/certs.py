"""Self-signed certificates for the tests' TLS servers (FTPS, SMTP, metrics) and for
key material in source trees (a certificate expiring in N days)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path


def certificate_pem(
    common_name: str = "127.0.0.1", *, days: float = 30, server: bool = True
) -> tuple[bytes, bytes]:
    """(certificate PEM, PKCS#8 key PEM) of a self-signed EC certificate valid for
    ``days`` more days; a ``server`` one names 127.0.0.1 and localhost and is a CA (its
    own trust anchor)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
    )
    if server:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        )
    certificate = builder.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def self_signed(work: Path) -> tuple[Path, Path]:
    """``work/cert.pem`` and ``work/key.pem``: a server certificate for 127.0.0.1 and
    localhost (see :func:`certificate_pem`)."""
    cert, key = certificate_pem()
    cert_path, key_path = work / "cert.pem", work / "key.pem"
    cert_path.write_bytes(cert)
    key_path.write_bytes(key)
    return cert_path, key_path
