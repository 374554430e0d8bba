"""Which findings a listing shows: by kind, by expiry, weak ones, a fingerprint.

Expiry is judged as of the time asked (``now``), not the backup's, so a certificate
that expired since the backup is listed as expired.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from keyark.errors import UsageError
from keyark.inventory.finding import KINDS, WEAK_FLAGS
from keyark.inventory.model import Finding

#: Short names for kinds (``--kind cert``); every kind is also accepted as it is.
KIND_ALIASES: dict[str, tuple[str, ...]] = {
    "cert": ("certificate",),
    "key": ("private_key",),
    "pubkey": ("public_key", "ssh_public_key"),
    "ssh": ("ssh_public_key", "authorized_keys", "known_hosts"),
    "p12": ("pkcs12",),
    "pfx": ("pkcs12",),
    "gpg": ("gpg_keyring",),
    "env": ("env_file",),
}
#: What ``weak`` selects: weak algorithms and secrets readable by group or others.
WEAK_SELECTION = WEAK_FLAGS | {"group-or-world-readable"}


def parse_kinds(names: Iterable[str]) -> frozenset[str]:
    """The kinds ``names`` mean (each a kind, or a short name of :data:`KIND_ALIASES`)."""
    chosen: set[str] = set()
    for name in names:
        for part in filter(None, (p.strip().lower() for p in name.split(","))):
            if part in KINDS:
                chosen.add(part)
            elif part in KIND_ALIASES:
                chosen.update(KIND_ALIASES[part])
            else:
                known = ", ".join([*KIND_ALIASES, *KINDS])
                raise UsageError(f"unknown kind of key material {part!r}; use one of: {known}")
    return frozenset(chosen)


@dataclass(frozen=True)
class FindingQuery:
    """A selection of findings: kinds (empty: all), expiring within, weak only."""

    kinds: frozenset[str] = frozenset()
    expiring: timedelta | None = None
    weak: bool = False

    def matches(self, finding: Finding, now: datetime) -> bool:
        """Whether ``finding`` is selected (expiring includes the already expired)."""
        if self.kinds and finding.kind not in self.kinds:
            return False
        if self.expiring is not None and (
            finding.not_after is None or finding.not_after > now + self.expiring
        ):
            return False
        return not (self.weak and not WEAK_SELECTION.intersection(finding.flags))

    def select(self, findings: Sequence[Finding], now: datetime) -> list[Finding]:
        """The selected findings, in their order."""
        return [f for f in findings if self.matches(f, now)]


def holds_fingerprint(finding: Finding, fingerprint: str) -> bool:
    """Whether ``finding``'s fingerprint or public-key fingerprint is ``fingerprint``."""
    return fingerprint in (finding.fingerprint, finding.public_key_fingerprint)


__all__ = [
    "KIND_ALIASES",
    "WEAK_SELECTION",
    "FindingQuery",
    "holds_fingerprint",
    "parse_kinds",
]
