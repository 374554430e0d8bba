"""A private SoftHSM2 token for the PKCS#11 tests (session-scoped fixture ``softhsm``).

It writes its own ``softhsm2.conf`` and token directory under a temporary directory,
points ``SOFTHSM2_CONF`` at it for the whole session (before python-pkcs11 loads the
module), initialises a token with ``softhsm2-util`` and creates the keys the tests use:

* ``keyark-aes``   AES-256 (CKM_AES_KEY_WRAP_PAD)
* ``keyark-rsa``   RSA-2048 key pair (OAEP; SoftHSM 2.6 only with SHA-1)
* ``other-aes``    a second AES-256 key, for "wrong key" cases

Skip rule (as for the other test servers): SoftHSM2 or python-pkcs11 missing skips,
except under ``CI=true``, where it fails (``make test`` installs both).

Use it with ``import tests.hsm as softhsm_support`` and ``softhsm = softhsm_support.softhsm``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

TOKEN = "keyark-test"
PIN = "4711-test-pin"
SO_PIN = "0815-so-pin"
AES_KEY = "keyark-aes"
RSA_KEY = "keyark-rsa"
OTHER_AES_KEY = "other-aes"
MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)


@dataclass(frozen=True)
class SoftHSM:
    """The initialised token: where it is and how to reach it."""

    module: str
    conf: Path
    token: str = TOKEN
    pin: str = PIN

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a ``keyark`` subprocess that uses this token."""
        return {"SOFTHSM2_CONF": str(self.conf), "KEYARK_PKCS11_PIN": self.pin, **extra}


def find_module() -> str | None:
    override = os.environ.get("KEYARK_TEST_SOFTHSM_MODULE")
    if override:
        return override if os.path.exists(override) else None
    return next((m for m in MODULE_CANDIDATES if os.path.exists(m)), None)


def _unavailable(reason: str) -> None:
    message = f"{reason}; run scripts/install-test-servers.sh and pip install 'keyark[hsm]'"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {message}")
    pytest.skip(message)


_READY: list[SoftHSM] = []


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> SoftHSM:
    """The token, made once per process (each test module that imports this fixture shares it).

    ``SOFTHSM2_CONF`` stays set for the rest of the process: SoftHSM reads it once, when
    python-pkcs11 first loads the module, so it must not change afterwards.
    """
    if _READY:
        return _READY[0]
    module = find_module()
    util = shutil.which("softhsm2-util")
    if module is None or util is None:
        _unavailable("SoftHSM2 is not installed (no libsofthsm2.so or softhsm2-util)")
    try:
        import pkcs11
        from pkcs11 import KeyType
    except ImportError:
        _unavailable("python-pkcs11 is not installed")
    assert module is not None and util is not None
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {base / 'tokens'}\n"
        "objectstore.backend = file\n"
        "log.level = ERROR\n"
        "slots.removable = false\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        [util, "--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", SO_PIN],
        check=True,
        capture_output=True,
    )
    token = pkcs11.lib(module).get_token(token_label=TOKEN)
    with token.open(user_pin=PIN, rw=True) as session:
        session.generate_key(KeyType.AES, 256, store=True, label=AES_KEY)
        session.generate_key(KeyType.AES, 256, store=True, label=OTHER_AES_KEY)
        session.generate_keypair(KeyType.RSA, 2048, store=True, label=RSA_KEY)
    _READY.append(SoftHSM(module=module, conf=conf))
    return _READY[0]
