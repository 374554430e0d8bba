"""Private and public keys in PEM and DER: PKCS#1, PKCS#8 (plain or encrypted), SEC1.

A key is never decrypted: an encrypted key records only that it is encrypted (and its
algorithm when the PEM label names it). An unencrypted key records its public half's
facts, so it matches its certificate by ``public_key_fingerprint``.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization

from keyark.inventory.finding import Finding
from keyark.inventory.key_facts import KeyFacts, private_key_facts, public_key_facts
from keyark.inventory.pem import DER_SEQUENCE, PemBlock, der_element

#: PEM labels of private keys, and the format each is recorded as.
PRIVATE_LABELS = {
    "PRIVATE KEY": "PEM PKCS#8",
    "RSA PRIVATE KEY": "PEM PKCS#1",
    "EC PRIVATE KEY": "PEM SEC1",
    "DSA PRIVATE KEY": "PEM DSA",
    "ENCRYPTED PRIVATE KEY": "PEM PKCS#8 encrypted",
}
#: PEM labels of public keys.
PUBLIC_LABELS = frozenset({"PUBLIC KEY", "RSA PUBLIC KEY"})
#: What the DER body of a block of each private-key label starts with, when it has no
#: headers (see :func:`keyark.inventory.pem.pem_blocks`): a SEQUENCE, unless only the
#: label is read (an encrypted PKCS#8 key is never parsed).
PRIVATE_PREFIXES = {
    label: b"" if label == "ENCRYPTED PRIVATE KEY" else DER_SEQUENCE for label in PRIVATE_LABELS
}
#: The same for public-key labels (SubjectPublicKeyInfo, PKCS#1 RSAPublicKey).
PUBLIC_PREFIXES = dict.fromkeys(PUBLIC_LABELS, DER_SEQUENCE)
#: Formats whose keys normally pair with an X.509 certificate (``no-certificate`` applies).
X509_KEY_FORMATS = frozenset(
    {*PRIVATE_LABELS.values(), "PEM PKCS#1 encrypted", "PEM SEC1 encrypted", "PEM DSA encrypted"}
    | {"DER PKCS#8", "DER traditional", "DER PKCS#8 encrypted", "PKCS#12"}
)

_LABEL_ALGORITHMS = {"RSA PRIVATE KEY": "RSA", "EC PRIVATE KEY": "EC", "DSA PRIVATE KEY": "DSA"}


def private_key_finding(
    path: str, facts: KeyFacts | None, *, fmt: str, algorithm: str | None = None
) -> Finding:
    """A private key in ``path``; ``facts`` None when it is encrypted (nothing else known)."""
    if facts is None:
        flags: tuple[str, ...] = ("dsa",) if algorithm == "DSA" else ()
        return Finding(
            kind="private_key",
            path=path,
            algorithm=algorithm,
            encrypted=True,
            flags=flags,
            format=fmt,
            secret=True,
        )
    return _known_key_finding(
        "private_key",
        path,
        facts,
        fmt=fmt,
        flags=("unencrypted", *facts.flags),
        encrypted=False,
        secret=True,
    )


def pem_private_key(path: str, block: PemBlock) -> Finding | None:
    """The private key in ``block`` (labelled as in :data:`PRIVATE_LABELS`), or None."""
    fmt = PRIVATE_LABELS[block.label]
    algorithm = _LABEL_ALGORITHMS.get(block.label)
    if block.label == "ENCRYPTED PRIVATE KEY":
        return private_key_finding(path, None, fmt=fmt)
    if block.encrypted:
        return private_key_finding(path, None, fmt=f"{fmt} encrypted", algorithm=algorithm)
    facts = _load_der_private(block.body)
    if facts is None:
        return None
    return private_key_finding(path, facts, fmt=fmt)


def pem_public_key(path: str, block: PemBlock) -> Finding | None:
    """The public key in a ``PUBLIC KEY`` or ``RSA PUBLIC KEY`` block, or None."""
    try:
        if block.label == "RSA PUBLIC KEY":
            key = serialization.load_der_public_key(_spki_of_pkcs1(block.body))
        else:
            key = serialization.load_der_public_key(block.body)
    except Exception:  # malformed or unsupported: not a key this version describes
        return None
    return public_key_finding(path, public_key_facts(key), fmt=f"PEM {block.label.title()}")


def public_key_finding(path: str, facts: KeyFacts, *, fmt: str) -> Finding:
    """A bare public key (no secret)."""
    return _known_key_finding("public_key", path, facts, fmt=fmt, flags=facts.flags)


def _known_key_finding(
    kind: str,
    path: str,
    facts: KeyFacts,
    *,
    fmt: str,
    flags: tuple[str, ...],
    encrypted: bool | None = None,
    secret: bool = False,
) -> Finding:
    """A key whose public half is known: its fingerprint is the SubjectPublicKeyInfo's,
    which its certificate shares."""
    return Finding(
        kind=kind,
        path=path,
        algorithm=facts.algorithm,
        size=facts.size,
        fingerprint=facts.spki_fingerprint,
        public_key_fingerprint=facts.spki_fingerprint,
        encrypted=encrypted,
        flags=flags,
        format=fmt,
        secret=secret,
    )


def der_key_findings(path: str, data: bytes) -> list[Finding]:
    """A DER file holding a private key (PKCS#8, plain or encrypted, or traditional) or a
    public key (SubjectPublicKeyInfo)."""
    try:
        key = serialization.load_der_private_key(
            data, password=None, unsafe_skip_rsa_key_validation=True
        )
    except TypeError:  # "password was not given but private key is encrypted"
        return [private_key_finding(path, None, fmt="DER PKCS#8 encrypted")]
    except Exception:
        pass
    else:
        fmt = "DER PKCS#8" if _is_pkcs8(data) else "DER traditional"
        return [private_key_finding(path, private_key_facts(key), fmt=fmt)]
    try:
        public = serialization.load_der_public_key(data)
    except Exception:
        return []
    return [public_key_finding(path, public_key_facts(public), fmt="DER Public Key")]


def _load_der_private(der: bytes) -> KeyFacts | None:
    try:
        key = serialization.load_der_private_key(
            der, password=None, unsafe_skip_rsa_key_validation=True
        )
    except Exception:
        return None
    return private_key_facts(key)


def _is_pkcs8(der: bytes) -> bool:
    # PrivateKeyInfo: SEQUENCE { INTEGER 0|1, SEQUENCE { algorithm OID ... } ... }
    outer = der_element(der)
    if outer is None:
        return False
    start = outer[1]
    return der[start : start + 2] == b"\x02\x01" and der[start + 3 : start + 4] == b"\x30"


def _spki_of_pkcs1(body: bytes) -> bytes:
    """Wrap a PKCS#1 RSAPublicKey in a SubjectPublicKeyInfo."""
    algorithm = bytes.fromhex("300d06092a864886f70d0101010500")
    bit_string = b"\x03" + _der_length(len(body) + 1) + b"\x00" + body
    content = algorithm + bit_string
    return b"\x30" + _der_length(len(content)) + content


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets
