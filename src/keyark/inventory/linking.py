"""Cross-file facts: which certificate has its private key in the snapshot, what expires.

:func:`link` runs over all findings of a snapshot (recognition sees one file at a time)
and recomputes the link flags (``expired``, ``expiring``, ``no-private-key``,
``no-certificate``), so it is idempotent and can be re-run with another ``now``.
"""

from __future__ import annotations

import posixpath
from dataclasses import replace
from datetime import datetime, timedelta

from keyark.inventory.finding import LINK_FLAGS, Finding
from keyark.inventory.private_keys import X509_KEY_FORMATS

#: Kinds whose ``public_key_fingerprint`` names a private key held in the snapshot.
_PRIVATE_KINDS = frozenset({"private_key", "jwk"})


def link(findings: list[Finding], now: datetime, *, expiring_days: int = 30) -> list[Finding]:
    """``findings`` with the link flags recomputed against each other and ``now``: one
    finding per finding given, in order (the same object when its flags stay).

    - ``expired``: ``not_after`` is at or before ``now``; ``expiring``: within
      ``expiring_days`` after ``now``.
    - ``no-private-key``: an end-entity certificate (not a CA) whose key is not among
      the private keys, unless an encrypted key of unknown public key lies in the same
      directory (it may be the one).
    - ``no-certificate``: a private key of an X.509 format (PEM, DER, PKCS#12) whose
      public key no certificate holds; an encrypted key of unknown public key only when
      no certificate lies in its directory. SSH, JWK and GnuPG keys are not flagged.
    """
    private_keys = {
        f.public_key_fingerprint
        for f in findings
        if f.kind in _PRIVATE_KINDS and f.secret and f.public_key_fingerprint
    }
    certified = {f.public_key_fingerprint for f in findings if f.kind == "certificate"}
    unknown_key_dirs = {
        posixpath.dirname(f.path)
        for f in findings
        if f.kind == "private_key" and f.public_key_fingerprint is None
    }
    certificate_dirs = {posixpath.dirname(f.path) for f in findings if f.kind == "certificate"}
    horizon = now + timedelta(days=expiring_days)
    linked: list[Finding] = []
    for finding in findings:
        flags = [flag for flag in finding.flags if flag not in LINK_FLAGS]
        if finding.not_after is not None:
            if finding.not_after <= now:
                flags.append("expired")
            elif finding.not_after <= horizon:
                flags.append("expiring")
        directory = posixpath.dirname(finding.path)
        if (
            finding.kind == "certificate"
            and finding.is_ca is False
            and finding.public_key_fingerprint not in private_keys
            and directory not in unknown_key_dirs
        ):
            flags.append("no-private-key")
        if finding.kind == "private_key" and finding.format in X509_KEY_FORMATS:
            known = finding.public_key_fingerprint
            if (known is not None and known not in certified) or (
                known is None and directory not in certificate_dirs
            ):
                flags.append("no-certificate")
        new_flags = tuple(flags)
        linked.append(finding if new_flags == finding.flags else replace(finding, flags=new_flags))
    return linked
