"""Recognition of one file: pick the parsers its first bytes and name call for, run each
under a guard, add the file's mode and owner.

:func:`recognise` never raises: a parser that fails on malformed input gives no finding
and is counted (:func:`parser_failures`), so a hostile file cannot stop a backup.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from cryptography.hazmat.primitives.serialization import pkcs7

from keyark.inventory.bundles import JKS_MAGIC, jks_findings, pkcs12_findings
from keyark.inventory.candidates import MAX_CANDIDATE_SIZE, openpgp_key_packet
from keyark.inventory.config_files import (
    env_findings,
    is_env_name,
    is_kubeconfig,
    kubeconfig_findings,
)
from keyark.inventory.finding import Finding, amended
from keyark.inventory.gnupg import gnupg_findings
from keyark.inventory.json_keys import json_key_findings
from keyark.inventory.pem import looks_like_pkcs12, pem_blocks
from keyark.inventory.private_keys import (
    PRIVATE_LABELS,
    PRIVATE_PREFIXES,
    PUBLIC_LABELS,
    PUBLIC_PREFIXES,
    der_key_findings,
    pem_private_key,
    pem_public_key,
)
from keyark.inventory.ssh_keys import (
    OPENSSH_MAGIC,
    openssh_private_key,
    putty_findings,
    ssh_public_findings,
)
from keyark.inventory.x509_certs import (
    CERTIFICATE_LABELS,
    CERTIFICATE_PREFIXES,
    certificate_finding,
    certificate_from_der,
    der_certificate_findings,
)

#: Permission bits that make a secret readable by someone other than its owner.
READABLE_BY_OTHERS = 0o044

Parser = Callable[[str, bytes], list[Finding]]

#: The bytes :meth:`bytes.lstrip` strips.
_WHITESPACE = frozenset(b" \t\n\r\x0b\x0c")
#: The PEM blocks :func:`pem_findings` reads, and what their DER bodies start with.
_PEM_PREFIXES = {
    **CERTIFICATE_PREFIXES,
    **PRIVATE_PREFIXES,
    **PUBLIC_PREFIXES,
    "OPENSSH PRIVATE KEY": OPENSSH_MAGIC,
    "PKCS7": b"",
}

_failures: Counter[str] = Counter()
_failures_lock = threading.Lock()


def recognise(
    path: str, data: bytes, *, mode: int | None, uid: int | None, gid: int | None
) -> list[Finding]:
    """The key material in file ``path`` holding ``data`` (possibly none).

    ``mode``, ``uid`` and ``gid`` are the file's; a finding that describes a secret
    gets ``group-or-world-readable`` when the mode lets group or others read it.
    Never raises; data above the candidate size limit gives no finding.
    """
    if not data or len(data) > MAX_CANDIDATE_SIZE:
        return []
    findings: list[Finding] = []
    for parser in _parsers(path, data):
        try:
            findings.extend(parser(path, data))
        except Exception:  # a hostile or unexpected file: count it, keep going
            with _failures_lock:
                _failures[parser.__name__] += 1
    return [_with_file_facts(finding, mode, uid, gid) for finding in findings]


def parser_failures() -> dict[str, int]:
    """How many times each parser failed on malformed input in this process."""
    with _failures_lock:
        return dict(_failures)


def _parsers(path: str, data: bytes) -> list[Parser]:
    """The parsers ``data`` calls for, by its first bytes, then its name and content.

    Each test reads as few bytes as it can: one dispatch on the first byte, and a
    whole-file search only for what that leaves possible (``data`` is not empty).
    """
    first = data[0]
    if first == 0x30:
        return [der_findings]
    if first & 0x80:
        if data.startswith(JKS_MAGIC):
            return [jks_findings]
        if openpgp_key_packet(data[:16]):
            return [gnupg_findings]
    elif first == 0x50 and data.startswith(b"PuTTY-User-Key-File-"):  # "P"
        return [putty_findings]
    if data[8:12] == b"KBXf":
        return [gnupg_findings]
    if first == 0x7B or (first in _WHITESPACE and data.lstrip()[:1] == b"{"):  # "{"
        return [json_key_findings]
    parsers: list[Parser] = []
    dashes = b"-" in data  # in every PEM marker and SSH key type
    if dashes and b"-----BEGIN" in data:
        parsers.append(pem_findings)
        if b"-----BEGIN PGP P" in data and (
            b"-----BEGIN PGP PUBLIC KEY BLOCK" in data or b"-----BEGIN PGP PRIVATE KEY" in data
        ):
            parsers.append(gnupg_findings)
    if is_env_name(path):
        parsers.append(env_findings)
    elif is_kubeconfig(path, data):
        parsers.append(kubeconfig_findings)
    elif dashes and _has_key_type(data):
        parsers.append(ssh_public_findings)
    return parsers


def _has_key_type(data: bytes) -> bool:
    """Whether ``data`` holds one of :data:`keyark.inventory.ssh_wire.KEY_TYPE_PREFIXES`
    (``ssh-`` covers
    ``sk-ssh-``, and both ECDSA prefixes hold ``ecdsa-``)."""
    return b"ssh-" in data or (
        b"ecdsa-" in data and (b"ecdsa-sha2-" in data or b"sk-ecdsa-" in data)
    )


def _with_file_facts(
    finding: Finding, mode: int | None, uid: int | None, gid: int | None
) -> Finding:
    flags = finding.flags
    if (
        finding.secret
        and mode is not None
        and mode & READABLE_BY_OTHERS
        and "group-or-world-readable" not in flags
    ):
        flags = ("group-or-world-readable", *flags)
    return amended(finding, mode=mode, uid=uid, gid=gid, flags=flags)


def pem_findings(path: str, data: bytes) -> list[Finding]:
    """Certificates, private and public keys in the PEM blocks of ``data``."""
    findings: list[Finding] = []
    for block in pem_blocks(data, _PEM_PREFIXES):
        finding: Finding | None = None
        if block.label in CERTIFICATE_LABELS:
            cert = certificate_from_der(block.body)
            finding = None if cert is None else certificate_finding(path, cert, fmt="PEM")
        elif block.label in PRIVATE_LABELS:
            finding = pem_private_key(path, block)
        elif block.label in PUBLIC_LABELS:
            finding = pem_public_key(path, block)
        elif block.label == "OPENSSH PRIVATE KEY":
            finding = openssh_private_key(path, block.body)
        elif block.label == "PKCS7":
            findings.extend(
                certificate_finding(path, cert, fmt="PKCS#7")
                for cert in pkcs7.load_der_pkcs7_certificates(block.body)
            )
        if finding is not None:
            findings.append(finding)
    return findings


def der_findings(path: str, data: bytes) -> list[Finding]:
    """A DER certificate, PKCS#12 bundle, or private or public key."""
    found = der_certificate_findings(path, data)
    if found:
        return found
    if looks_like_pkcs12(data):
        return pkcs12_findings(path, data)
    return der_key_findings(path, data)
