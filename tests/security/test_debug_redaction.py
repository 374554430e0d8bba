"""``--debug`` never prints credentials (issue 8 §9).

The review ran ``keyark --debug`` against S3 with temporary credentials and found
the session token in stderr 12 times: ``--debug`` set the root logger to DEBUG, so
botocore logged every signed request. Now only keyark's loggers go to DEBUG and
everything logged passes a redacting filter.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conformance.servers import unique
from tests.conftest import PASSWORD, keyark_binary
from tests.e2e.remote import base_env

from keyark.redaction import RedactingFilter, redact

ACCESS_KEY = "ASIAZZZZH5TESTKEYID1"
SECRET_KEY = "h5SecretAccessKey/wJalrXUtnFEMI+K7MDENGbPxRfiCY"
SESSION_TOKEN = "FwoGZXIvYXdzEH5SESSIONtokenIQoJb3JpZ2luX2VjEJr//////////wEaCXVz"
SECRETS = (SECRET_KEY, SESSION_TOKEN, ACCESS_KEY, PASSWORD)


def _s3_env(tmp_path: Path) -> dict[str, str]:
    env = base_env(tmp_path / "cache")
    env.update(
        KEYARK_REPOSITORY=f"s3://{unique('debug')}/repo",
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_SESSION_TOKEN=SESSION_TOKEN,
    )
    return env


def _keyark(env: dict[str, str], endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [keyark_binary(), "--debug", "--s3-endpoint", endpoint, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_debug_against_s3_prints_no_credentials(moto_endpoint: str, tmp_path: Path) -> None:
    env = _s3_env(tmp_path)
    source = tmp_path / "src"
    source.mkdir()
    (source / "server.key").write_text("-----BEGIN PRIVATE KEY-----\n")
    runs = [
        _keyark(env, moto_endpoint, "init"),
        _keyark(env, moto_endpoint, "backup", str(source)),
        _keyark(env, moto_endpoint, "snapshots"),
        _keyark(env, moto_endpoint, "snapshots", "--repo", f"s3://{unique('missing')}/none"),
    ]
    assert [r.returncode for r in runs[:3]] == [0, 0, 0], [r.stderr for r in runs]
    assert runs[3].returncode != 0  # an error path too (traceback under --debug)
    for run in runs:
        for secret in SECRETS:
            assert secret not in run.stderr and secret not in run.stdout


def test_root_logger_at_debug_would_leak_the_token(moto_endpoint: str, tmp_path: Path) -> None:
    """Positive control: the old set-up (root logger at DEBUG) prints the session token."""
    script = f"""
import logging, boto3
logging.basicConfig(level=logging.DEBUG)
client = boto3.client("s3", endpoint_url={moto_endpoint!r}, region_name="us-east-1")
client.list_buckets()
"""
    env = _s3_env(tmp_path)
    leaked = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert leaked.returncode == 0, leaked.stderr
    assert SESSION_TOKEN in leaked.stderr


def test_filter_masks_what_a_library_would_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """The handler filter also catches a third-party record that gets through."""
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    record = logging.LogRecord(
        "botocore.endpoint",
        logging.WARNING,
        __file__,
        1,
        "Sending request %s",
        (
            {
                "headers": {
                    "X-Amz-Security-Token": SESSION_TOKEN.encode(),
                    "Authorization": f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/x, Signature=ab12",
                },
                "url": "ftp://backup:hunter22pw@ftp.example/keys?sig=zzzSAS",
            },
        ),
        None,
    )
    assert RedactingFilter().filter(record)
    text = record.getMessage()
    for secret in (SESSION_TOKEN, SECRET_KEY, ACCESS_KEY, "hunter22pw", "ab12", "zzzSAS"):
        assert secret not in text
    assert "X-Amz-Security-Token" in text and "ftp.example" in text  # still readable
    assert redact("opening repository /srv/keys: 3 snapshots") == (
        "opening repository /srv/keys: 3 snapshots"
    )
