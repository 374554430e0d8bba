"""JSON key documents: JWK / JWKS (RFC 7517) and cloud service-account key files.

A JWK's private members (``d``, ``p``, ``q``, ``dp``, ``dq``, ``qi``, ``oth``, a
symmetric key's ``k``) are never read into a finding: only that the key is private.
A service account records its type, client e-mail and private key id, and its
embedded private key as a separate ``private_key`` finding (public facts only).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from keyark.inventory.finding import Finding, amended
from keyark.inventory.key_facts import KeyFacts, public_key_facts
from keyark.inventory.pem import pem_blocks
from keyark.inventory.private_keys import PRIVATE_PREFIXES, pem_private_key

#: At most this many keys of a JWKS are described.
MAX_KEYS = 10_000

_CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
    "secp256k1": ec.SECP256K1(),
}
_OKP: dict[str, Any] = {
    "Ed25519": ed25519.Ed25519PublicKey,
    "Ed448": ed448.Ed448PublicKey,
    "X25519": x25519.X25519PublicKey,
    "X448": x448.X448PublicKey,
}


def json_key_findings(path: str, data: bytes) -> list[Finding]:
    """A JWK, a JWKS or a service-account key file; other JSON gives nothing."""
    if b'"kty"' not in data and b'"service_account"' not in data and b'"private_key"' not in data:
        return []
    document = json.loads(data)
    if not isinstance(document, dict):
        return []
    if isinstance(document.get("keys"), list):
        keys = [key for key in document["keys"][:MAX_KEYS] if isinstance(key, dict)]
        return [_jwk_finding(path, key, len(keys)) for key in keys if "kty" in key]
    if isinstance(document.get("kty"), str):
        return [_jwk_finding(path, document, None)]
    if isinstance(document.get("private_key"), str) or document.get("type") == "service_account":
        return _service_account(path, document)
    return []


def _jwk_finding(path: str, jwk: dict[str, Any], count: int | None) -> Finding:
    kty = str(jwk.get("kty"))[:32]
    private = "d" in jwk or (kty == "oct" and "k" in jwk)
    facts = _jwk_public_facts(jwk)
    algorithm = facts.algorithm if facts else kty
    size = facts.size if facts else _oct_size(jwk)
    flags = list(facts.flags) if facts else []
    if private:
        flags.insert(0, "unencrypted")
    kid = jwk.get("kid")
    key_id = kid[:256] if isinstance(kid, str) else None
    return Finding(
        kind="jwk",
        path=path,
        name=key_id,
        algorithm=algorithm,
        size=size,
        fingerprint=facts.spki_fingerprint if facts else None,
        public_key_fingerprint=facts.spki_fingerprint if facts else None,
        encrypted=False if private else None,
        count=count,
        flags=tuple(flags),
        format="JWK",
        key_id=key_id,
        secret=private,
    )


def _jwk_public_facts(jwk: dict[str, Any]) -> KeyFacts | None:
    key: PublicKeyTypes
    try:
        kty = jwk.get("kty")
        if kty == "RSA":
            key = rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key()
        elif kty == "EC":
            curve = _CURVES[jwk["crv"]]
            key = ec.EllipticCurvePublicNumbers(_int(jwk["x"]), _int(jwk["y"]), curve).public_key()
        elif kty == "OKP":
            key = _OKP[jwk["crv"]].from_public_bytes(_b64url(jwk["x"]))
        else:
            return None
    except Exception:  # missing or malformed members: described by kty only
        return None
    return public_key_facts(key)


def _oct_size(jwk: dict[str, Any]) -> int | None:
    value = jwk.get("k")
    if not isinstance(value, str):
        return None
    try:
        return len(_b64url(value)) * 8
    except ValueError:
        return None


def _b64url(value: object) -> bytes:
    if not isinstance(value, str):
        raise ValueError("not a string")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except binascii.Error as error:
        raise ValueError("not base64url") from error


def _int(value: object) -> int:
    return int.from_bytes(_b64url(value), "big")


def _service_account(path: str, document: dict[str, Any]) -> list[Finding]:
    email = document.get("client_email")
    key_id = document.get("private_key_id")
    kind = document.get("type")
    embedded: list[Finding] = []
    pem = document.get("private_key")
    if isinstance(pem, str):
        for block in pem_blocks(pem.encode("utf-8", "replace"), PRIVATE_PREFIXES):
            found = pem_private_key(path, block)
            if found is not None:
                embedded.append(found)
    if not embedded and kind != "service_account":
        return []
    name = email[:4096] if isinstance(email, str) else None
    account = Finding(
        kind="service_account",
        path=path,
        name=name,
        subject=kind[:256] if isinstance(kind, str) else None,
        encrypted=False if embedded else None,
        flags=("unencrypted",) if embedded else (),
        format="JSON",
        key_id=key_id[:256] if isinstance(key_id, str) else None,
        secret=bool(embedded),
    )
    keys = [
        amended(key, name=account.name, key_id=account.key_id, format="service account")
        for key in embedded
    ]
    return [account, *keys]
