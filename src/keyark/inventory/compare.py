"""What key material changed between two inventories (``inventory diff``).

Findings are identified by fingerprint (a certificate's DER hash, a key's public-key
hash): the same key encrypted afterwards keeps its identity, a new key does not.
Findings without a fingerprint (``.env`` names, ``authorized_keys`` counts, ...) are
identified by kind and path.

- *renewed*: a certificate that is new, with the subject of an earlier one and a
  later expiry (paired with the newest such earlier certificate);
- *replaced*: at the same path and of the same kind, a new fingerprint where the old
  one is gone;
- *added* / *removed*: any other new or vanished finding;
- *protection changed*: the same key (same fingerprint and path) whose passphrase
  protection or file mode changed, or a key at the same path now encrypted (or no
  longer) when the encrypted form hides its public key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from keyark.inventory.model import Finding


@dataclass(frozen=True)
class Change:
    """One pair: the finding before and after (either None for added or removed)."""

    old: Finding | None
    new: Finding | None

    def to_dict(self) -> dict[str, Any]:
        """``{"old": ..., "new": ...}`` (each a finding's dict, or null)."""
        return {
            "old": None if self.old is None else self.old.to_dict(),
            "new": None if self.new is None else self.new.to_dict(),
        }


@dataclass
class InventoryChanges:
    """The changes from one inventory to another, by kind of change."""

    added: list[Finding] = field(default_factory=list)
    removed: list[Finding] = field(default_factory=list)
    replaced: list[Change] = field(default_factory=list)
    renewed: list[Change] = field(default_factory=list)
    protection_changed: list[Change] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Each list as dicts."""
        return {
            "added": [f.to_dict() for f in self.added],
            "removed": [f.to_dict() for f in self.removed],
            "replaced": [c.to_dict() for c in self.replaced],
            "renewed": [c.to_dict() for c in self.renewed],
            "protection_changed": [c.to_dict() for c in self.protection_changed],
        }

    def __bool__(self) -> bool:
        """Whether anything changed."""
        return bool(
            self.added or self.removed or self.replaced or self.renewed or self.protection_changed
        )


def identity(finding: Finding) -> tuple[str, ...]:
    """What makes two findings the same key material (see the module)."""
    if finding.fingerprint is not None:
        return (finding.kind, finding.fingerprint)
    return (finding.kind, "path", finding.path)


def compare(first: list[Finding], second: list[Finding]) -> InventoryChanges:
    """The changes from ``first`` (older) to ``second`` (see the module)."""
    changes = InventoryChanges()
    before = {identity(f): f for f in first}
    after = {identity(f): f for f in second}
    gone = [f for key, f in before.items() if key not in after]
    new = [f for key, f in after.items() if key not in before]
    for key, finding in after.items():
        old = before.get(key)
        if (
            old is not None
            and old.path == finding.path
            and _protection(old) != _protection(finding)
        ):
            changes.protection_changed.append(Change(old, finding))
    consumed: set[int] = set()
    for finding in new:
        earlier = _renewal_of(finding, first)
        if earlier is not None:
            changes.renewed.append(Change(earlier, finding))
            consumed.add(id(earlier))
            continue
        same_place = [
            old
            for old in gone
            if id(old) not in consumed and old.path == finding.path and old.kind == finding.kind
        ]
        if (
            same_place
            and None in (finding.fingerprint, same_place[0].fingerprint)
            and same_place[0].encrypted != finding.encrypted
        ):  # encrypted, its public key unknown: the key at that path, protected anew
            changes.protection_changed.append(Change(same_place[0], finding))
            consumed.add(id(same_place[0]))
            continue
        if same_place and finding.fingerprint is not None:
            changes.replaced.append(Change(same_place[0], finding))
            consumed.add(id(same_place[0]))
            continue
        changes.added.append(finding)
    changes.removed = [f for f in gone if id(f) not in consumed]
    return changes


def _renewal_of(finding: Finding, earlier: list[Finding]) -> Finding | None:
    """The newest earlier certificate with ``finding``'s subject and an earlier expiry."""
    if finding.kind != "certificate" or finding.subject is None or finding.not_after is None:
        return None
    candidates = [
        old
        for old in earlier
        if old.kind == "certificate"
        and old.subject == finding.subject
        and old.fingerprint != finding.fingerprint
        and old.not_after is not None
        and old.not_after < finding.not_after
    ]
    return max(candidates, key=_expiry, default=None)


def _expiry(finding: Finding) -> datetime:
    assert finding.not_after is not None
    return finding.not_after


def _protection(finding: Finding) -> tuple[bool | None, int | None]:
    return finding.encrypted, finding.mode


__all__ = ["Change", "InventoryChanges", "compare", "identity"]
