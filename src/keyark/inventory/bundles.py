"""Key bundles: PKCS#12 / PFX and Java KeyStore files.

A PKCS#12 file is opened without a password and with the empty one (both common for
exported bundles); then its certificates and key are described like any other. A bundle
protected by a real password is recorded as ``protected-bundle``: keyark never guesses.
A JKS file is recorded by its header (entry count) as a protected bundle.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.serialization import pkcs12

from keyark.inventory.candidates import JKS_HEAD
from keyark.inventory.finding import Finding
from keyark.inventory.key_facts import private_key_facts
from keyark.inventory.private_keys import private_key_finding
from keyark.inventory.x509_certs import certificate_finding

#: The magic number that starts a Java KeyStore.
JKS_MAGIC = JKS_HEAD


def pkcs12_findings(path: str, data: bytes) -> list[Finding]:
    """The bundle, and its certificates and key when it opens without a password."""
    loaded = _open(data, None) or _open(data, b"")
    if loaded is None:
        return [
            Finding(
                kind="pkcs12",
                path=path,
                encrypted=True,
                flags=("protected-bundle",),
                format="PKCS#12",
                secret=True,
            )
        ]
    certificates = [loaded.cert] if loaded.cert is not None else []
    certificates.extend(loaded.additional_certs)
    findings = [certificate_finding(path, item.certificate, fmt="PKCS#12") for item in certificates]
    key = loaded.key
    name = None
    if loaded.cert is not None and loaded.cert.friendly_name:
        name = loaded.cert.friendly_name.decode("utf-8", "replace")
    bundle = Finding(
        kind="pkcs12",
        path=path,
        name=name or (findings[0].name if findings else None),
        count=len(certificates),
        encrypted=False,
        flags=("unencrypted",) if key is not None else (),
        format="PKCS#12",
        secret=key is not None,
    )
    if key is not None:
        findings.append(private_key_finding(path, private_key_facts(key), fmt="PKCS#12"))
    return [bundle, *findings]


def _open(data: bytes, password: bytes | None) -> pkcs12.PKCS12KeyAndCertificates | None:
    try:
        return pkcs12.load_pkcs12(data, password)
    except Exception:  # a wrong password, or not PKCS#12 at all
        return None


def jks_findings(path: str, data: bytes) -> list[Finding]:
    """A Java KeyStore: version and entry count from its header."""
    if not data.startswith(JKS_MAGIC) or len(data) < 12:
        return []
    version = int.from_bytes(data[4:8], "big")
    if version not in (1, 2):
        return []
    return [
        Finding(
            kind="pkcs12",
            path=path,
            count=int.from_bytes(data[8:12], "big"),
            encrypted=True,
            flags=("protected-bundle",),
            format="JKS",
            secret=True,
        )
    ]
