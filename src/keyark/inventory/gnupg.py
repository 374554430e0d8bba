"""GnuPG keyrings: key ids, fingerprints, user ids and expiry, through ``gpg --with-colons``.

The keyring is shown, never imported into anyone's keyring: ``gpg`` runs with a fresh
temporary ``GNUPGHOME`` (mode 0700, removed afterwards), ``--no-autostart`` (no agent),
the data on standard input (``--import-options show-only``) — only a keybox file
(``pubring.kbx``, public keys) is copied into that directory, as gpg reads keyboxes only
from files. Without ``gpg`` a keyring is recorded as such, with no details.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime

from keyark.inventory.finding import Finding
from keyark.inventory.key_facts import MIN_RSA_BITS
from keyark.redaction import child_environment

#: How long one ``gpg`` call may take.
GPG_TIMEOUT = 20.0
#: At most this many keys are recorded per keyring.
MAX_KEYS = 10_000

_ALGORITHMS = {
    "1": "RSA",
    "2": "RSA",
    "3": "RSA",
    "16": "Elgamal",
    "17": "DSA",
    "18": "ECDH",
    "19": "ECDSA",
    "22": "EdDSA",
}


def gpg_program() -> str | None:
    """The ``gpg`` executable on PATH, or None."""
    return shutil.which("gpg")


def gnupg_findings(path: str, data: bytes) -> list[Finding]:
    """The keys of an OpenPGP keyring (binary or armored) or keybox file."""
    program = gpg_program()
    if program is None:
        return [Finding(kind="gpg_keyring", path=path, format="OpenPGP")]
    output = _show(program, data, keybox=data[8:12] == b"KBXf")
    return parse_colons(path, output)


def _show(program: str, data: bytes, *, keybox: bool) -> str:
    home = tempfile.mkdtemp(prefix="keyark-gpg-")
    try:
        os.chmod(home, 0o700)
        environment = child_environment()
        environment["GNUPGHOME"] = home
        command = [program, "--batch", "--no-tty", "--no-autostart", "--with-colons"]
        if keybox:
            keyring = os.path.join(home, "shown.kbx")
            descriptor = os.open(keyring, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            command += ["--no-default-keyring", "--keyring", keyring, "--list-keys"]
            stdin = b""
        else:
            command += ["--import-options", "show-only", "--import"]
            stdin = data
        completed = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            timeout=GPG_TIMEOUT,
            env=environment,
            check=False,
        )
        return completed.stdout.decode("utf-8", "replace")
    finally:
        shutil.rmtree(home, ignore_errors=True)


def parse_colons(path: str, output: str) -> list[Finding]:
    """Findings from ``gpg --with-colons`` listing: one per primary key."""
    findings: list[Finding] = []
    current: dict[str, str] | None = None
    subkeys = 0

    def flush() -> None:
        if current is not None and len(findings) < MAX_KEYS:
            findings.append(_key_finding(path, current, subkeys))

    for line in output.splitlines():
        fields = line.split(":")
        record = fields[0]
        if record in ("pub", "sec"):
            flush()
            current = {
                "secret": "1" if record == "sec" else "",
                "size": _field(fields, 3),
                "algorithm": _field(fields, 4),
                "key_id": _field(fields, 5),
                "created": _field(fields, 6),
                "expires": _field(fields, 7),
                "curve": _field(fields, 17),
            }
            subkeys = 0
        elif current is None:
            continue
        elif record == "fpr" and "fingerprint" not in current:
            current["fingerprint"] = _field(fields, 10)
        elif record == "uid" and "uid" not in current:
            current["uid"] = _field(fields, 10)
        elif record in ("sub", "ssb"):
            subkeys += 1
    flush()
    return findings


def _field(fields: list[str], number: int) -> str:
    return fields[number - 1][:4096] if len(fields) >= number else ""


def _key_finding(path: str, key: dict[str, str], subkeys: int) -> Finding:
    algorithm = _ALGORITHMS.get(key["algorithm"], f"OpenPGP {key['algorithm'][:8]}")
    if key["curve"]:
        algorithm = f"{algorithm} {key['curve'][:32]}"
    size = int(key["size"]) if key["size"].isdigit() and len(key["size"]) < 8 else None
    flags: list[str] = []
    if algorithm == "DSA":
        flags.append("dsa")
    if algorithm == "RSA" and size is not None and size < MIN_RSA_BITS:
        flags.append("weak-rsa")
    fingerprint = key.get("fingerprint", "").lower()
    valid = 8 <= len(fingerprint) <= 128 and all(c in "0123456789abcdef" for c in fingerprint)
    return Finding(
        kind="gpg_keyring",
        path=path,
        name=key.get("uid") or None,
        algorithm=algorithm,
        size=size,
        fingerprint=f"OPENPGP:{fingerprint}" if valid else None,
        not_before=_time(key["created"]),
        not_after=_time(key["expires"]),
        count=subkeys,
        flags=tuple(flags),
        format="OpenPGP",
        key_id=key["key_id"][:256] or None,
        secret=bool(key["secret"]),
    )


def _time(value: str) -> datetime | None:
    if not value.isdigit() or len(value) > 11:
        return None
    return datetime.fromtimestamp(int(value), UTC)
