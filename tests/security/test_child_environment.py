"""A ``--password-command`` child gets a scrubbed environment (issue 8 §9).

The review's password command dumped its environment and found
``KEYARK_NEW_PASSWORD``, ``KEYARK_FROM_PASSWORD``, ``KEYARK_PKCS11_PIN`` and
``AWS_SECRET_ACCESS_KEY`` there. The same command does it again here, through
the CLI and through the Python API's config file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import CLI, PASSWORD, keyark_binary

from keyark.api import BackupManager
from keyark.redaction import child_environment, is_secret_variable

SECRETS = {
    "KEYARK_PASSWORD_FILE": "/run/secrets/h5-password-file",
    "KEYARK_NEW_PASSWORD": "h5-new-passphrase-value",
    "KEYARK_NEW_PASSWORD_FILE": "/run/secrets/h5-new",
    "KEYARK_FROM_PASSWORD": "h5-from-passphrase-value",
    "KEYARK_PKCS11_PIN": "h5-9876",
    "AWS_SECRET_ACCESS_KEY": "h5-aws-secret-access-key",
    "AWS_SESSION_TOKEN": "h5-aws-session-token",
    "AZURE_STORAGE_KEY": "h5-azure-storage-key",
    "AZURE_STORAGE_CONNECTION_STRING": "AccountKey=h5-azure-conn",
    "GOOGLE_APPLICATION_CREDENTIALS": "/run/secrets/h5-gcs.json",
    "VAULT_TOKEN": "h5-vault-token",
    "DB_PASSWORD": "h5-db-password",
    "SMARTCARD_PIN": "h5-4321",
    "MY_API_SECRET": "h5-api-secret",
}
ORDINARY = {"HOME", "PATH", "LANG", "GPG_TTY", "PINENTRY_USER_DATA", "KEYARK_REPOSITORY"}


def _dumping_command(tmp_path: Path) -> tuple[str, Path]:
    """A password command that writes its environment to a file, then prints the passphrase."""
    dump = tmp_path / "child-env.json"
    script = tmp_path / "dump_env.py"
    script.write_text(
        "import json, os, sys\n"
        f"open({str(dump)!r}, 'w').write(json.dumps(dict(os.environ)))\n"
        f"sys.stdout.write({PASSWORD!r})\n"
    )
    return f"{sys.executable} {script}", dump


def _assert_scrubbed(dump: Path) -> None:
    child = json.loads(dump.read_text())
    for name, value in SECRETS.items():
        assert name not in child
        assert value not in json.dumps(child)
    assert "KEYARK_PASSWORD" not in child and "KEYARK_PASSWORD_COMMAND" not in child
    assert {"HOME", "PATH", "GPG_TTY", "PINENTRY_USER_DATA"} <= set(child)  # still usable


def _secret_env(base: dict[str, str]) -> dict[str, str]:
    env = dict(base, **SECRETS, GPG_TTY="/dev/pts/9", PINENTRY_USER_DATA="USE_CURSES=1")
    env.pop("KEYARK_PASSWORD", None)
    return env


def test_cli_password_command_gets_no_secrets(cli: CLI, tmp_path: Path) -> None:
    cli.run("init", check=True)
    command, dump = _dumping_command(tmp_path)
    env = _secret_env(cli.env)
    result = subprocess.run(
        [keyark_binary(), "snapshots", "--password-command", command],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr  # the passphrase it printed opened the repo
    _assert_scrubbed(dump)


def test_api_password_command_gets_no_secrets(
    cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.run("init", check=True)
    command, dump = _dumping_command(tmp_path)
    config = tmp_path / "manager.json"
    config.write_text(json.dumps({"repository": str(cli.repo), "password_command": command}))
    for name, value in _secret_env({}).items():
        monkeypatch.setenv(name, value)
    manager = BackupManager(config_file=config, cache_dir=str(cli.cache))
    assert manager.list_backups() == []
    _assert_scrubbed(dump)


def test_unscrubbed_child_would_see_the_secrets(tmp_path: Path) -> None:
    """Positive control: the dumping command does see what a plain child inherits."""
    command, dump = _dumping_command(tmp_path)
    env = _secret_env(dict(os.environ))
    subprocess.run(command.split(), env=env, check=True, capture_output=True)
    child = json.loads(dump.read_text())
    assert all(child.get(name) == value for name, value in SECRETS.items())


def test_classification() -> None:
    for name in SECRETS:
        assert is_secret_variable(name), name
    for name in ORDINARY:
        assert not is_secret_variable(name), name
    scrubbed = child_environment({**SECRETS, "HOME": "/root"})
    assert scrubbed == {"HOME": "/root"}
