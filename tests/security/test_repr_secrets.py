"""``repr()`` of an API object never shows a secret (issue 8 §9).

The review printed a ``BackupManager`` (as a debugger, a log line or an
exception report would) and read its password. Each object here is built with
known secret values, then its ``repr()`` and ``str()`` are searched for them.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import PASSWORD

from keyark.api import BackupManager, ManagerConfig
from keyark.chunker import ChunkerParams
from keyark.cli.settings import Settings
from keyark.context import OperationContext
from keyark.crypto.hsm import Pkcs11Config
from keyark.crypto.slots import Credentials
from keyark.repo.repository import Repository

PASSWORD_TEXT = "h5-manager-password-Zq8"
URL_PASSWORD = "h5-url-password-Kx3"
COMMAND_SECRET = "h5-command-secret-Pw7"
PIN = "h5-pin-6671"


def _shown(obj: object) -> str:
    return repr(obj) + str(obj)


def test_backup_manager_hides_its_password() -> None:
    manager = BackupManager(
        repository=f"ftp://backup:{URL_PASSWORD}@ftp.example/keys", password=PASSWORD_TEXT
    )
    shown = _shown(manager)
    assert PASSWORD_TEXT not in shown and URL_PASSWORD not in shown
    assert "ftp.example" in shown and "BackupManager(" in shown  # still useful
    as_bytes = BackupManager(repository="/srv/keys", password=PASSWORD_TEXT.encode())
    assert PASSWORD_TEXT not in _shown(as_bytes)


def test_positive_control_the_secrets_are_really_held() -> None:
    """The values searched for are in the objects, so the assertions can fail."""
    manager = BackupManager(repository="/srv/keys", password=PASSWORD_TEXT)
    assert manager.password == PASSWORD_TEXT
    assert PASSWORD_TEXT in repr(vars(manager))


def test_manager_config_and_loaded_manager(tmp_path: Path) -> None:
    config = ManagerConfig(
        repository=f"s3://user:{URL_PASSWORD}@host/bucket",
        password_command=f"echo {COMMAND_SECRET}",
    )
    shown = _shown(config)
    assert COMMAND_SECRET not in shown and URL_PASSWORD not in shown
    path = tmp_path / "manager.json"
    path.write_text(
        json.dumps({"repository": "/srv/keys", "password_command": f"echo {COMMAND_SECRET}"})
    )
    manager = BackupManager(config_file=path)
    assert manager.config is not None  # the command (and its secret) is held, run when needed
    assert COMMAND_SECRET in str(manager.config.credentials.passphrase[0].command)
    assert COMMAND_SECRET not in _shown(manager)


def test_credentials_pkcs11_settings_chunker() -> None:
    assert PASSWORD_TEXT not in _shown(Credentials(passphrase=PASSWORD_TEXT.encode()))
    assert PIN not in _shown(Pkcs11Config(module="/usr/lib/softhsm.so", token="t", pin=PIN))
    settings = Settings(
        repo=f"sftp://user:{URL_PASSWORD}@host/keys",
        password_command=f"pass show {COMMAND_SECRET}",
    )
    shown = _shown(settings)
    assert URL_PASSWORD not in shown and COMMAND_SECRET not in shown and "Settings(" in shown
    assert "123456789" not in _shown(ChunkerParams(seed=123456789))


def test_open_repository_objects(repo: Repository) -> None:
    secrets = [dk.key.secret.hex() for dk in repo.keys.keyring.data_keys.values()]
    secrets += [dk.key.secret.hex()[:16] for dk in repo.keys.keyring.data_keys.values()]
    assert repo.keys.root_key is not None
    secrets.append(repo.keys.root_key.secret.hex())
    secrets.append(str(repo.config.chunker.seed))
    objects: list[object] = [
        repo,
        repo.keys.keyring,
        repo.keys.root_key,
        repo.config,
        *repo.keys.keyring.data_keys.values(),
        OperationContext(),
    ]
    for obj in objects:
        shown = _shown(obj)
        assert not any(secret in shown for secret in secrets), type(obj).__name__
        assert PASSWORD not in shown
