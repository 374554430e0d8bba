"""X.509 certificates: subject, issuer, serial, SANs, validity, key, signature, CA flag."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from keyark.inventory.finding import Finding
from keyark.inventory.key_facts import public_key_facts, sha256_fingerprint
from keyark.inventory.pem import DER_SEQUENCE, first_element

#: Labels of PEM blocks that hold one certificate.
CERTIFICATE_LABELS = frozenset({"CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"})
#: What their DER bodies start with (for :func:`keyark.inventory.pem.pem_blocks`).
CERTIFICATE_PREFIXES = dict.fromkeys(CERTIFICATE_LABELS, DER_SEQUENCE)
#: At most this many subject alternative names are recorded per certificate.
MAX_SANS = 1000

_DER = Encoding.DER
_WEAK_HASHES = {"sha1": "sha1-signature", "md5": "md5-signature"}


def certificate_from_der(der: bytes) -> x509.Certificate | None:
    """Parse one DER certificate (trailing bytes, as in ``TRUSTED CERTIFICATE``, dropped)."""
    element = first_element(der)
    if element is None:
        return None
    try:
        return x509.load_der_x509_certificate(element)
    except ValueError:
        return None


def certificate_finding(path: str, cert: x509.Certificate, *, fmt: str) -> Finding:
    """The facts of ``cert``, found in ``path`` in format ``fmt`` (``PEM``, ``DER``, ...)."""
    subject = _rfc4514(cert.subject)
    issuer = _rfc4514(cert.issuer)
    is_ca = _is_ca(cert)
    flags: list[str] = []
    algorithm = size = key_fingerprint = None
    try:
        facts = public_key_facts(cert.public_key())
    except Exception:  # an unsupported or malformed key: the certificate still counts
        pass
    else:
        algorithm, size, key_fingerprint = facts.algorithm, facts.size, facts.spki_fingerprint
        flags.extend(facts.flags)
    signature = _signature_algorithm(cert)
    hash_name = _signature_hash(cert)
    self_signed_root = bool(is_ca) and subject == issuer
    if hash_name in _WEAK_HASHES and not self_signed_root:
        flags.append(_WEAK_HASHES[hash_name])
    sans = _sans(cert)
    return Finding(
        kind="certificate",
        path=path,
        name=_common_name(cert.subject) or (sans[0] if sans else subject),
        algorithm=algorithm,
        size=size,
        fingerprint=sha256_fingerprint(cert.public_bytes(_DER)),
        public_key_fingerprint=key_fingerprint,
        subject=subject,
        issuer=issuer,
        serial=format(cert.serial_number, "x"),
        sans=sans,
        signature_algorithm=signature,
        is_ca=is_ca,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        flags=tuple(flags),
        format=fmt,
    )


def der_certificate_findings(path: str, data: bytes) -> list[Finding]:
    """A DER file holding one certificate."""
    cert = certificate_from_der(data)
    if cert is None or len(cert.public_bytes(_DER)) != len(data):
        return []
    return [certificate_finding(path, cert, fmt="DER")]


def _rfc4514(name: x509.Name) -> str | None:
    try:
        return name.rfc4514_string()[:4096]
    except Exception:
        return None


def _common_name(name: x509.Name) -> str | None:
    try:
        values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    except Exception:
        return None
    for attribute in values:
        value = attribute.value
        return (value if isinstance(value, str) else value.decode("utf-8", "replace"))[:4096]
    return None


def _is_ca(cert: x509.Certificate) -> bool | None:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    except Exception:
        return None
    return constraints.value.ca


def _sans(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except Exception:
        return ()
    names: list[str] = []
    for general_name in extension.value:
        value = general_name.value
        if isinstance(value, x509.Name):
            text = _rfc4514(value) or ""
        elif isinstance(value, bytes):
            text = value.hex()
        else:
            text = str(value)
        names.append(text[:4096])
        if len(names) >= MAX_SANS:
            break
    return tuple(names)


def _signature_algorithm(cert: x509.Certificate) -> str | None:
    try:
        oid = cert.signature_algorithm_oid
    except Exception:
        return None
    name = getattr(oid, "_name", None)
    return name if isinstance(name, str) and name != "Unknown OID" else oid.dotted_string


def _signature_hash(cert: x509.Certificate) -> str | None:
    try:
        algorithm = cert.signature_hash_algorithm
    except Exception:
        return None
    return algorithm.name if isinstance(algorithm, hashes.HashAlgorithm) else None
