"""Second copies of ``config`` and ``keyring``: one damaged byte never loses a repository.

Each of the two objects is stored twice with identical bytes: ``config`` and
``config.bak``, ``keyring`` and ``keyring.bak`` (issue 9). Both copies are
verified on open (the config by its signature, the keyring by authenticated
encryption under KR and by verifying the config); a damaged one is skipped with
one warning line naming it, whose hint (:data:`REPAIR_HINT`) names the repair
that rewrites it from the verified copy (:mod:`keyark.maintenance.repair_state`).

Write order. Every writer puts the copy first, then the primary
(:func:`write_config`, :func:`write_keyring`). A crash between the two PUTs
leaves the primary complete (the old state) and the copy complete (the new
state): both verify, so the repository opens. For the config the primary wins
when it verifies (its PUT stays the commit point of a root-key rotation); for the
keyring the verified copy with the highest version wins. At ``init`` the copies
are written before their primaries and ``config`` last, so ``config`` still marks
a complete repository.

Backends without atomic replace (``Capabilities.atomic_replace`` is False: FTP
on a server that refuses to rename onto a file deletes the old object, then
renames the new one in). A crash between that delete and rename leaves one of the
two objects missing, never both: the other one is complete, so the repository
opens (a missing primary falls back to the copy like a damaged one). On such a
backend the copy is read back before its primary is replaced, so the primary is
put at risk only once the copy verifiably holds the new bytes.

No rollback. Both keyring objects carry the same monotonic version; the one with
the highest version is chosen, and the client's remembered version
(:mod:`keyark.repo.trust_state`) still refuses a keyring older than one seen, so
a replayed old copy is as detectable as a replayed primary.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from keyark.backends.base import Backend
from keyark.crypto.keyring import KEYRING_NAME
from keyark.errors import FormatError, Hint, NotFoundError, TransientBackendError
from keyark.repo.config import CONFIG_NAME, RepoConfig

log = logging.getLogger(__name__)

_T = TypeVar("_T")

CONFIG_COPY_NAME = "config.bak"
KEYRING_COPY_NAME = "keyring.bak"
#: The copy of each primary object.
COPY_OF = {CONFIG_NAME: CONFIG_COPY_NAME, KEYRING_NAME: KEYRING_COPY_NAME}
#: Which repair rewrites each object (the face words it: ``keyark repair config`` ...).
REPAIR_HINT = {
    CONFIG_NAME: Hint.REPAIR_CONFIG,
    CONFIG_COPY_NAME: Hint.REPAIR_CONFIG,
    KEYRING_NAME: Hint.REPAIR_KEYRING,
    KEYRING_COPY_NAME: Hint.REPAIR_KEYRING,
}
_warned: set[tuple[str, str]] = set()


def write_config(backend: Backend, data: bytes, *, overwrite: bool = True) -> None:
    """Store a signed config: ``config.bak`` first, then ``config`` (the commit point)."""
    _write_both(backend, CONFIG_NAME, data, overwrite)


def write_keyring(backend: Backend, envelope: bytes, *, overwrite: bool = True) -> None:
    """Store a sealed keyring: ``keyring.bak`` first, then ``keyring`` (same bytes)."""
    _write_both(backend, KEYRING_NAME, envelope, overwrite)


def _write_both(backend: Backend, primary: str, data: bytes, overwrite: bool) -> None:
    """Put the copy of ``primary``, then ``primary``; without atomic replace, check the copy
    reads back whole before the primary's replacement (which may delete it first) starts."""
    copy = COPY_OF[primary]
    backend.put(copy, data, overwrite=overwrite)
    if (
        overwrite
        and not backend.capabilities().atomic_replace
        and read_optional(backend, copy) != data
    ):
        raise TransientBackendError(
            f"'{copy}' did not read back as written to {backend.location()}; "
            f"'{primary}' was left unchanged"
        )
    backend.put(primary, data, overwrite=overwrite)


def read_optional(backend: Backend, name: str) -> bytes | None:
    """The object's bytes, or None if it does not exist."""
    try:
        return backend.get(name)
    except NotFoundError:
        return None


def read_config_bytes(backend: Backend) -> bytes:
    """The config bytes to open with: ``config``, or ``config.bak`` if that one is unreadable.

    Not authenticated (nothing here holds a key): the primary is returned whenever it
    parses, and the copy only when the primary is missing or not a format-2 config
    document while the copy is. Raises :class:`NotFoundError` if neither exists;
    the primary's own :class:`FormatError` if neither parses.
    """
    primary = read_optional(backend, CONFIG_NAME)
    if primary is not None and _parses(primary):
        return primary
    copy = read_optional(backend, CONFIG_COPY_NAME)
    if copy is not None and _parses(copy):
        warn_damaged(backend, CONFIG_NAME, CONFIG_COPY_NAME)
        return copy
    if primary is None:
        raise NotFoundError(f"{backend.location()} has no repository config")
    return primary  # opening reports why it does not parse


def config_candidates(backend: Backend, config_bytes: bytes) -> list[tuple[str, bytes]]:
    """(name, bytes) of the config to try, ``config_bytes`` first, then a differing copy."""
    found = [(CONFIG_NAME, config_bytes)]
    for name in (CONFIG_NAME, CONFIG_COPY_NAME):
        data = read_optional(backend, name)
        if data is not None and all(data != seen for _, seen in found):
            found.append((name, data))
    return found


def verify_config_with_copy(
    backend: Backend, config_bytes: bytes, verify: Callable[[bytes], _T]
) -> tuple[_T, bytes]:
    """(``verify(bytes)``, the bytes it accepted): ``config_bytes``, else ``config.bak``.

    ``verify`` raises :class:`FormatError` for a config it refuses. The copy is
    used only when ``config_bytes`` fail and it passes (a warning names the
    damaged ``config``); if both fail, the error for ``config_bytes`` is raised.
    """
    try:
        return verify(config_bytes), config_bytes
    except FormatError as error:
        for name, data in config_candidates(backend, config_bytes)[1:]:
            try:
                result = verify(data)
            except FormatError:
                continue
            if name == CONFIG_COPY_NAME:
                warn_damaged(backend, CONFIG_NAME, CONFIG_COPY_NAME)
            return result, data
        raise error from None


def check_same_settings(opened_with: bytes, verified: bytes) -> None:
    """Refuse a verified config whose backend settings differ from those the backend used.

    The backend is opened with the settings of the (not yet authenticated) primary
    ``config``; when the verified ``config.bak`` is used instead, a difference there
    (Object Lock) would otherwise go unnoticed: a :class:`FormatError` names it.
    """
    try:
        before = RepoConfig.peek(opened_with).get("public")
    except FormatError:
        return  # unparsable: the storage layer opened with the copy's settings already
    after = RepoConfig.peek(verified).get("public")
    key = "backend_settings"
    if (before.get(key) if isinstance(before, dict) else None) != (
        after.get(key) if isinstance(after, dict) else None
    ):
        raise FormatError(
            "repository 'config' is damaged and records other backend settings than its "
            "intact copy 'config.bak'; replace 'config' with 'config.bak' in storage"
        )


def warn_damaged(backend: Backend, damaged: str, used: str) -> None:
    """Warn once per repository and object that ``damaged`` failed verification.

    The log record carries the repair as ``record.hint`` (a :class:`Hint`), which the
    face words after the message.
    """
    key = (backend.location(), damaged)
    if key in _warned:
        return
    _warned.add(key)
    log.warning(
        "repository object '%s' is damaged or outdated (it failed verification); using "
        "'%s' instead until it is rewritten",
        damaged,
        used,
        extra={"hint": REPAIR_HINT[damaged]},
    )


def _parses(data: bytes) -> bool:
    try:
        RepoConfig.peek(data)
    except FormatError:
        return False
    return True


__all__ = [
    "CONFIG_COPY_NAME",
    "COPY_OF",
    "KEYRING_COPY_NAME",
    "REPAIR_HINT",
    "check_same_settings",
    "config_candidates",
    "read_config_bytes",
    "read_optional",
    "verify_config_with_copy",
    "warn_damaged",
    "write_config",
    "write_keyring",
]
