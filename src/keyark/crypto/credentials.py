"""Credentials from the key material a user supplied: a passphrase, a key file, a PKCS#11 key.

Its own module (not :mod:`keyark.keys`, which re-exports it) so opening a repository
with a key file loads only the key-file unlocker, not the key-slot pipelines, the
recovery-share codec or the PKCS#11 driver.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from keyark.crypto.slots import Credentials

if TYPE_CHECKING:
    from keyark.crypto.hsm import Pkcs11Config


def credentials(
    passphrase: bytes | None = None,
    key_file: str | os.PathLike[str] | None = None,
    pkcs11: Pkcs11Config | None = None,
) -> Credentials:
    """Key material for :func:`keyark.storage.open_repository`; any combination of the three."""
    unlockers: dict[str, Any] = {}
    if key_file is not None:
        from keyark.crypto import keyfile

        unlockers[keyfile.KEYFILE] = keyfile.unlocker(keyfile.load_key_file(key_file))
    if pkcs11 is not None:
        from keyark.crypto import hsm

        unlockers[hsm.PKCS11] = hsm.unlocker(pkcs11)
    return Credentials(passphrase=passphrase, unlockers=unlockers)
