"""PCI DSS v4.0 (wording checked against v4.0.1) controls keyark gives evidence for.

Requirement 3 (stored account data and its keys) from the repository's keys, slots and
inventory; requirement 10 (audit logs and monitoring) from the audit log and the alert
channels. Requirements about people and paperwork (3.7.8 custodian acknowledgement,
3.7.9 service providers' customer guidance, 3.7.2 key distribution) are N/A here: keyark
has no evidence for or against them (docs/compliance.md).
"""

from __future__ import annotations

from datetime import timedelta

from keyark.compliance.evidence import Evidence
from keyark.compliance.logging_controls import (
    audit_enabled,
    audit_protected,
    audit_retention,
    monitoring,
)
from keyark.compliance.model import Control, EvidenceItem, Outcome, Status, moment, unavailable

PCI = "pci-dss"
#: The AEAD ciphers keyark seals with: strong cryptography, every object authenticated.
STRONG_CIPHERS = frozenset({"AES_256_GCM", "CHACHA20_POLY1305"})
#: A data key newer than the repository by less than this is the one made by ``init``.
INIT_SLACK = timedelta(minutes=1)


def encryption(evidence: Evidence) -> Outcome:
    """Strong AEAD cipher on every data key; objects authenticated; config signed."""
    missing = unavailable(evidence, "repository", "repository facts not available")
    if missing is not None or evidence.facts is None:
        return missing or Outcome(Status.WARN, "repository facts not available")
    facts = evidence.facts
    items = [
        EvidenceItem("repository id", facts.repository_id, facts.created),
        EvidenceItem("data-key ciphers", ", ".join(facts.ciphers) or "(none)", evidence.now),
        EvidenceItem(
            "authentication",
            "every pack, index, snapshot and key object is sealed with an AEAD envelope",
            evidence.now,
        ),
        EvidenceItem("repository config signed", "yes" if facts.config_signed else "no"),
    ]
    check = evidence.last_run("check")
    if check is not None:
        items.append(EvidenceItem("last check", check.status, check.finished or check.started))
    weak = [c for c in facts.ciphers if c not in STRONG_CIPHERS]
    if weak or not facts.ciphers:
        return Outcome(
            Status.FAIL, f"data keys not under a strong AEAD cipher: {weak}", tuple(items)
        )
    return Outcome(Status.PASS, "stored data is encrypted and authenticated", tuple(items))


def key_inventory(evidence: Evidence) -> Outcome:
    """Data-key epochs and key slots are listed; the content's keys come from the inventory."""
    items = _epochs(evidence) + _slot_items(evidence)
    if evidence.inventory is None:
        why = evidence.unavailable.get("inventory", "inventory not available")
        items.append(EvidenceItem("inventory", f"not available: {why}", evidence.now))
        return Outcome(Status.WARN, "inventory not available", tuple(items))
    kinds: dict[str, int] = {}
    flagged = 0
    for finding in evidence.inventory:
        kinds[finding.kind] = kinds.get(finding.kind, 0) + 1
        flagged += bool(set(finding.flags) & {"weak-rsa", "dsa", "expired", "unencrypted"})
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "no key material found"
    items.append(EvidenceItem("inventory (latest snapshot)", summary, evidence.now))
    if flagged:
        items.append(EvidenceItem("flagged (weak, expired, unencrypted)", str(flagged)))
        return Outcome(Status.WARN, f"{flagged} inventoried key(s) flagged", tuple(items))
    return Outcome(Status.PASS, "keys and crypto architecture listed", tuple(items))


def _epochs(evidence: Evidence) -> list[EvidenceItem]:
    status = evidence.key_status
    if status is None:
        return [EvidenceItem("data keys", "not available")]
    return [
        EvidenceItem(
            f"data key {e.id[:16]}", f"{e.state}, {e.age_days:.0f} days", moment(e.created)
        )
        for e in status.epochs
    ]


def _slot_items(evidence: Evidence) -> list[EvidenceItem]:
    return [
        EvidenceItem(
            f"slot {s.slot_id[:8]}",
            s.kind + (f" ({s.label})" if s.label else ""),
            moment(s.created),
        )
        for s in evidence.slots
    ]


def key_generation(evidence: Evidence) -> Outcome:
    """Data keys are random 256-bit keys; passphrase slots use a memory-hard KDF."""
    missing = unavailable(evidence, "key slots", "key slots not available")
    if missing is not None:
        return missing
    weak = [
        s for s in evidence.slots if s.kind == "passphrase" and s.details.get("kdf") != "argon2id"
    ]
    items = [EvidenceItem("data keys", "256-bit keys from the operating system's CSPRNG")]
    items += [
        EvidenceItem(
            f"slot {s.slot_id[:8]} KDF", str(s.details.get("kdf", s.kind)), moment(s.created)
        )
        for s in evidence.slots
    ]
    if weak:
        return Outcome(Status.WARN, f"{len(weak)} passphrase slot(s) use PBKDF2", tuple(items))
    return Outcome(Status.PASS, "strong keys; passphrase slots use Argon2id", tuple(items))


def key_storage(evidence: Evidence) -> Outcome:
    """Keys are stored only wrapped: slots (passphrase KDF, key file, HSM, recovery split)."""
    missing = unavailable(evidence, "key slots", "key slots not available")
    if missing is not None:
        return missing
    items = tuple(_slot_items(evidence))
    if not evidence.slots:
        return Outcome(Status.FAIL, "no key slot found", items)
    return Outcome(
        Status.PASS, f"keys stored wrapped in {len(evidence.slots)} slot(s), never in clear", items
    )


def rotation(evidence: Evidence) -> Outcome:
    """The data key is within its cryptoperiod and has been rotated since ``init``."""
    missing = unavailable(evidence, "key status", "key status not available")
    if missing is not None or evidence.key_status is None or evidence.facts is None:
        return missing or Outcome(Status.WARN, "key status not available")
    status = evidence.key_status
    current = next((e for e in status.epochs if e.id == status.current), None)
    created = moment(current.created) if current else None
    items = [
        *_epochs(evidence),
        EvidenceItem("rotation due", "yes" if status.due else "no", evidence.now),
        EvidenceItem("next rotation due", status.next_due, moment(status.next_due)),
    ]
    rotated = created is not None and created - evidence.facts.created > INIT_SLACK
    rotated = rotated or len(status.epochs) > 1
    runs = evidence.runs_of("rotate")
    if runs:
        last = runs[-1]
        items.append(EvidenceItem("last scheduled rotation run", last.status, last.started))
    if status.due:
        return Outcome(Status.FAIL, f"past its cryptoperiod: {status.reason}", tuple(items))
    if not rotated:
        return Outcome(
            Status.FAIL,
            "the data key was never rotated: the cryptoperiod process has no evidence",
            tuple(items),
        )
    if status.warn:
        return Outcome(Status.WARN, status.reason, tuple(items))
    return Outcome(Status.PASS, "data key rotated and within its cryptoperiod", tuple(items))


def retirement(evidence: Evidence) -> Outcome:
    """Retired keys are removed once everything is re-encrypted under the current one."""
    missing = unavailable(evidence, "key status", "key status not available")
    if missing is not None or evidence.key_status is None:
        return missing or Outcome(Status.WARN, "key status not available")
    status = evidence.key_status
    retired = [e for e in status.epochs if e.id != status.current]
    items = tuple(_epochs(evidence))
    if status.reencrypt_pending:
        return Outcome(Status.WARN, "a re-encryption is in progress", items)
    if retired:
        sealed = sum(e.objects for e in retired)
        return Outcome(
            Status.WARN, f"{len(retired)} retired key(s) still seal {sealed} object(s)", items
        )
    return Outcome(Status.PASS, "no retired key remains", items)


def split_knowledge(evidence: Evidence) -> Outcome:
    """Recovery is split: a recovery slot needing M >= 2 of N shares."""
    missing = unavailable(evidence, "key slots", "key slots not available")
    if missing is not None:
        return missing
    recovery = [s for s in evidence.slots if s.kind == "recovery"]
    items = tuple(
        EvidenceItem(
            f"recovery slot {s.slot_id[:8]}",
            f"{s.details.get('threshold')}-of-{s.details.get('shares')} shares",
            moment(s.created),
        )
        for s in recovery
    )
    split = [s for s in recovery if int(s.details.get("threshold") or 0) >= 2]
    if not split:
        return Outcome(Status.WARN, "no recovery key split into shares (M >= 2)", items)
    return Outcome(Status.PASS, "recovery needs several custodians' shares", items)


def substitution(evidence: Evidence) -> Outcome:
    """The keyring is authenticated (sealed, versioned) and the config signed."""
    if evidence.facts is None:
        return Outcome(Status.WARN, "repository facts not available")
    facts = evidence.facts
    items = (
        EvidenceItem("keyring version (monotonic)", str(facts.keyring_version), evidence.now),
        EvidenceItem("repository config signed", "yes" if facts.config_signed else "no"),
    )
    if not facts.config_signed:
        return Outcome(Status.FAIL, "the repository config is not signed", items)
    return Outcome(Status.PASS, "keys cannot be substituted unnoticed", items)


def organisational(_evidence: Evidence) -> Outcome:
    """Not something a backup tool can show."""
    return Outcome(Status.NOT_APPLICABLE, "organisational: keyark holds no evidence for it")


V4 = "PCI DSS v4.0"
CONTROLS: tuple[Control, ...] = (
    Control(
        "pci-3.5.1",
        PCI,
        f"{V4} 3.5.1",
        "PAN is rendered unreadable anywhere it is stored",
        encryption,
        "rotate the data key with re-encryption so every object is sealed under it",
    ),
    Control(
        "pci-3.6.1",
        PCI,
        f"{V4} 3.6.1",
        "Procedures protect cryptographic keys against disclosure and misuse",
        key_inventory,
        "review the key inventory and replace weak, expired or unencrypted keys",
    ),
    Control(
        "pci-3.7.1",
        PCI,
        f"{V4} 3.7.1",
        "Generation of strong cryptographic keys",
        key_generation,
        "replace PBKDF2 passphrase slots with Argon2id ones",
    ),
    Control(
        "pci-3.7.2",
        PCI,
        f"{V4} 3.7.2",
        "Secure distribution of cryptographic keys",
        organisational,
        "document how key files and shares are handed to custodians",
    ),
    Control(
        "pci-3.7.3",
        PCI,
        f"{V4} 3.7.3",
        "Secure storage of cryptographic keys",
        key_storage,
        "add a key slot (passphrase, key file or HSM key)",
    ),
    Control(
        "pci-3.7.4",
        PCI,
        f"{V4} 3.7.4",
        "Key changes for keys that have reached the end of their cryptoperiod",
        rotation,
        "rotate the data key and schedule the rotate maintenance task",
    ),
    Control(
        "pci-3.7.5",
        PCI,
        f"{V4} 3.7.5",
        "Retirement, replacement, or destruction of keys",
        retirement,
        "re-encrypt under the current key so retired keys are removed",
    ),
    Control(
        "pci-3.7.6",
        PCI,
        f"{V4} 3.7.6",
        "Split knowledge and dual control",
        split_knowledge,
        "split a recovery key into shares (e.g. 3 of 5)",
    ),
    Control(
        "pci-3.7.7",
        PCI,
        f"{V4} 3.7.7",
        "Prevention of unauthorized substitution of keys",
        substitution,
        "restore the repository config from its signed copy",
    ),
    Control(
        "pci-3.7.8",
        PCI,
        f"{V4} 3.7.8",
        "Key custodians acknowledge their responsibilities",
        organisational,
        "have each custodian acknowledge their responsibilities in writing",
    ),
    Control(
        "pci-3.7.9",
        PCI,
        f"{V4} 3.7.9",
        "Service providers' guidance to customers sharing keys",
        organisational,
        "service providers: document key guidance for customers",
    ),
    Control(
        "pci-10.2",
        PCI,
        f"{V4} 10.2.1",
        "Audit logs are enabled and active",
        audit_enabled,
        "enable the audit log (config section audit)",
    ),
    Control(
        "pci-10.3",
        PCI,
        f"{V4} 10.3",
        "Audit logs are protected from destruction and unauthorized modifications",
        audit_protected,
        "investigate the first bad record the audit verification names",
    ),
    Control(
        "pci-10.5.1",
        PCI,
        f"{V4} 10.5.1",
        "Audit log history retained at least 12 months (3 months immediately available)",
        audit_retention,
        "set audit.retention to 365d or more in the config file",
    ),
    Control(
        "pci-10.7",
        PCI,
        f"{V4} 10.7.2",
        "Failures of critical security control systems are detected, alerted and addressed",
        monitoring,
        "configure an alert channel (notifications) and send a test alert",
    ),
)

__all__ = ["CONTROLS", "PCI", "encryption"]
