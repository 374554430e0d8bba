"""Configuration files that embed or name secrets: kubeconfig and ``.env``.

A kubeconfig records its users and contexts by name, its embedded client certificates
and CA certificates (with expiry) and its client keys' public facts; tokens and
passwords are never read. A ``.env`` file records the NAMES of variables that look
secret, never a value.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from typing import Any

from keyark.inventory.finding import Finding, amended
from keyark.inventory.pem import pem_blocks
from keyark.inventory.private_keys import PRIVATE_LABELS, PRIVATE_PREFIXES, pem_private_key
from keyark.inventory.x509_certs import (
    CERTIFICATE_LABELS,
    CERTIFICATE_PREFIXES,
    certificate_finding,
    certificate_from_der,
)
from keyark.redaction import is_secret_variable

#: At most this many names are recorded.
MAX_NAMES = 1000

_ASSIGNMENT = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=")
#: :data:`_ASSIGNMENT` and "a line neither blank nor a comment", searched in ``"\n" +
#: text`` when the text's only line end is ``\n`` and its only other whitespace space
#: and tab: one match per such line (the leading ``\n`` lets the search skip to lines).
_ASSIGNED_LINE = re.compile(r"\n[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.]*)[ \t]*=")
_CONTENT_LINE = re.compile(r"\n[ \t]*[^ \t\n#]")
#: Characters that :meth:`str.splitlines` or :meth:`str.strip` treat as line ends or
#: whitespace in ASCII text, besides ``\n``, space and tab.
_OTHER_SPACE = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f")
_SECRET_SUFFIXES = ("_KEY", "_PASS", "_PWD", "_DSN", "_AUTH", "_CERT", "_SALT", "_SIGNATURE")
_SECRET_WORDS = ("PRIVATE", "AUTH", "CREDENTIAL", "SESSION", "COOKIE", "SIGNING", "ENCRYPTION")
_EMBEDDED_PREFIXES = {**CERTIFICATE_PREFIXES, **PRIVATE_PREFIXES}
_SECRET_EXACT = frozenset({"DATABASE_URL", "REDIS_URL", "MONGODB_URI", "SECRET", "KEY", "PASSWORD"})


def is_env_name(path: str) -> bool:
    """Whether the file name is a ``.env`` file's (``.env``, ``.env.local``, ``app.env``)."""
    base = path[path.rfind("/") + 1 :].lower()  # (posixpath.basename, faster)
    return base == ".env" or base.startswith(".env.") or base.endswith(".env")


@functools.lru_cache(maxsize=4096)  # names repeat across a tree's .env files
def looks_secret(name: str) -> bool:
    """Whether a variable named ``name`` likely holds a secret (``*_KEY``, ``*TOKEN*``,
    ``*PASSWORD*``, ``*SECRET*``, ...)."""
    upper = name.upper()
    return (
        is_secret_variable(upper)
        or upper.endswith(_SECRET_SUFFIXES)
        or any(word in upper for word in _SECRET_WORDS)
        or upper in _SECRET_EXACT
    )


def env_findings(path: str, data: bytes) -> list[Finding]:
    """A ``.env`` file: how many variables, which names look secret (never values)."""
    assigned, other = _assignments(data.decode("utf-8", "replace"))
    total = len(assigned)
    if total == 0 or other > total:
        return []  # not an env file (a continuation line or two is tolerated)
    names = [name for name in dict.fromkeys(assigned) if looks_secret(name)][:MAX_NAMES]
    return [
        Finding(
            kind="env_file",
            path=path,
            count=total,
            names=tuple(names),
            format="dotenv",
            secret=bool(names),
        )
    ]


def _assignments(text: str) -> tuple[list[str], int]:
    """The names assigned in ``text``, in order, and how many other (non-comment) lines
    it has; a quoted value that spans lines (a PEM key, say) counts as its first line."""
    if "'" not in text and '"' not in text:  # no quotes: no value spans lines
        if is_plain_text(text):
            return _plain_assignments(text)
        return _line_assignments(text)
    names: list[str] = []
    other = 0
    quote = ""  # inside a quoted value that spans lines: its quote
    for raw in text.splitlines():
        line = raw.strip()
        if quote:
            if line.endswith(quote):
                quote = ""
            continue
        if not line or line.startswith("#"):
            continue
        match = _ASSIGNMENT.match(line)
        if match is None:
            other += 1
            continue
        value = line[match.end() :].lstrip()
        if value[:1] in ("'", '"') and (len(value) == 1 or not value.endswith(value[0])):
            quote = value[0]
        names.append(match.group(1))
    return names, other


def is_plain_text(text: str) -> bool:
    """Whether ``text`` is ASCII whose only line end is ``\n`` and whose only other
    whitespace is space and tab (as most ``.env`` files are)."""
    return text.isascii() and not any(space in text for space in _OTHER_SPACE)


def _plain_assignments(text: str) -> tuple[list[str], int]:
    """:func:`_line_assignments` of a text without quotes that :func:`is_plain_text`:
    the same names and count, found by two searches rather than a loop over lines."""
    lines = "\n" + text
    names: list[str] = _ASSIGNED_LINE.findall(lines)
    return names, len(_CONTENT_LINE.findall(lines)) - len(names)


def _line_assignments(text: str) -> tuple[list[str], int]:
    """The names assigned in ``text`` (without quotes) and how many other lines (neither
    blank nor comments) it has, line by line."""
    lines = [line for line in map(str.strip, text.splitlines()) if line and line[0] != "#"]
    matches = [match for match in map(_ASSIGNMENT.match, lines) if match is not None]
    return [match.group(1) for match in matches], len(lines) - len(matches)


def is_kubeconfig(path: str, data: bytes) -> bool:
    """Whether ``path``/``data`` look like a kubeconfig (worth a YAML parse)."""
    if path.endswith(".kube/config") or "kubeconfig" in path[path.rfind("/") + 1 :].lower():
        return True
    return data.find(b"apiVersion", 0, 4096) >= 0 and b"kind: Config" in data


def kubeconfig_findings(path: str, data: bytes) -> list[Finding]:
    """A kubeconfig: users, embedded client certificates and keys, cluster CA certificates."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    document = yaml.load(data, Loader=loader)  # noqa: S506 - a safe loader
    if not isinstance(document, dict) or document.get("kind") != "Config":
        return []
    users = _named(document.get("users"), "user")
    clusters = _named(document.get("clusters"), "cluster")
    embedded: list[Finding] = []
    for user_name, user in users:
        embedded += _embedded(path, user.get("client-certificate-data"), user_name)
        embedded += _embedded(path, user.get("client-key-data"), user_name)
    for cluster_name, cluster in clusters:
        embedded += _embedded(path, cluster.get("certificate-authority-data"), cluster_name)
    has_key = any(finding.kind == "private_key" for finding in embedded)
    context = document.get("current-context")
    summary = Finding(
        kind="kubeconfig",
        path=path,
        name=context[:4096] if isinstance(context, str) else None,
        count=len(users),
        names=tuple(name for name, _user in users)[:MAX_NAMES],
        encrypted=False if has_key else None,
        format="kubeconfig",
        secret=has_key or any(_has_credentials(user) for _name, user in users),
    )
    return [summary, *embedded]


def _named(value: object, member: str) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(value, list):
        return []
    entries: list[tuple[str, dict[str, Any]]] = []
    for item in value[:MAX_NAMES]:
        if isinstance(item, dict) and isinstance(item.get(member), dict):
            name = item.get("name")
            entries.append((name[:4096] if isinstance(name, str) else "", item[member]))
    return entries


def _has_credentials(user: dict[str, Any]) -> bool:
    return any(key in user for key in ("token", "password", "client-key-data", "client-key"))


def _embedded(path: str, value: object, owner: str) -> list[Finding]:
    if not isinstance(value, str):
        return []
    try:
        pem = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return []
    findings: list[Finding] = []
    for block in pem_blocks(pem, _EMBEDDED_PREFIXES):
        if block.label in CERTIFICATE_LABELS:
            cert = certificate_from_der(block.body)
            if cert is not None:
                findings.append(certificate_finding(path, cert, fmt="kubeconfig"))
        elif block.label in PRIVATE_LABELS:
            key = pem_private_key(path, block)
            if key is not None:
                findings.append(amended(key, name=owner or None, format="kubeconfig"))
    return findings
