"""How a repository's storage is opened: wrappers, limits, connections, recorded settings."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from keyark import storage
from keyark.backends.local import LocalBackend
from keyark.backends.registry import BackendOptions, open_storage
from keyark.backends.retry import RetryingBackend
from keyark.backends.s3 import S3Backend
from keyark.backends.throttle import ThrottledBackend
from keyark.cancel import CancelToken
from keyark.cli.main import main
from keyark.cli.settings import Settings
from keyark.config.environment import unbound_options
from keyark.errors import CancelledError, UsageError
from keyark.events import Event, Events, Retry
from keyark.repo.repository import Repository

S3 = "s3://bucket/prefix"
ENDPOINT = BackendOptions({"s3_endpoint": "http://127.0.0.1:9"})


def test_local_is_bare_unless_limited(tmp_path: Path) -> None:
    assert isinstance(open_storage(str(tmp_path)), LocalBackend)
    limited = open_storage(str(tmp_path), BackendOptions(upload_kib_s=100))
    assert isinstance(limited, ThrottledBackend) and isinstance(limited.inner, LocalBackend)
    assert limited.upload is not None and limited.upload.rate == 100 * 1024
    assert limited.download is None


def test_remote_is_retried_outside_the_throttle() -> None:
    plain = open_storage(S3, ENDPOINT)
    assert isinstance(plain, RetryingBackend) and isinstance(plain.inner, S3Backend)
    assert plain.attempts == 6 and plain.base_delay == 0.5 and plain.max_delay == 30
    options = BackendOptions(
        ENDPOINT.settings, download_kib_s=50, retry_attempts=3, retry_base_delay=0.1
    )
    both = open_storage(S3, options)
    assert isinstance(both, RetryingBackend) and both.attempts == 3
    assert isinstance(both.inner, ThrottledBackend) and isinstance(both.inner.inner, S3Backend)
    no_retries = open_storage(S3, BackendOptions(ENDPOINT.settings, retry_attempts=1))
    assert isinstance(no_retries, S3Backend)


def test_retries_report_to_the_operation_and_obey_its_cancel() -> None:
    token = CancelToken()
    seen: list[Retry] = []

    def sink(event: Event) -> None:
        if isinstance(event, Retry):
            seen.append(event)
            token.cancel()  # as a face does on SIGINT, here on the first retry

    keys = {"s3_access_key_id": "id", "s3_secret_access_key": "secret"}
    options = BackendOptions(
        {**ENDPOINT.settings, **keys},  # nothing listens on port 9: a transient error
        retry_base_delay=60.0,
        retry_max_delay=60.0,
        events=Events("snapshots", sink),
        cancel=token,
    )
    backend = open_storage(S3, options)
    started = time.monotonic()
    with pytest.raises(CancelledError):
        backend.stat("config")
    assert time.monotonic() - started < 10, "the backoff outlived the cancel"
    assert [(event.operation, event.attempt) for event in seen] == [("snapshots", 1)]
    assert "stat config" in seen[0].error and "cannot connect" in seen[0].error


def test_connections_per_backend(tmp_path: Path) -> None:
    assert (
        open_storage(S3, BackendOptions(ENDPOINT.settings, connections=3))
        .capabilities()
        .connections
        == 3
    )
    assert (
        open_storage(str(tmp_path), BackendOptions(connections=5)).capabilities().connections == 5
    )
    explicit = BackendOptions({**ENDPOINT.settings, "s3_connections": 7}, connections=3)
    assert open_storage(S3, explicit).capabilities().connections == 7  # explicit wins
    with pytest.raises(UsageError):
        open_storage(S3, BackendOptions(ENDPOINT.settings, connections=0))
    with pytest.raises(UsageError):
        open_storage(S3, BackendOptions(ENDPOINT.settings, upload_kib_s=-1))


def test_persistent_settings_only_for_their_scheme() -> None:
    lock = BackendOptions({"s3_object_lock_days": 30, "s3_region": "eu-west-1"})
    assert storage.persistent_settings(S3, lock) == {"s3_object_lock_days": 30}
    assert storage.persistent_settings(S3, BackendOptions()) == {}
    with pytest.raises(UsageError, match="works only with s3:// repositories"):
        storage.persistent_settings("gs://bucket/x", lock)


def test_open_reapplies_recorded_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = str(tmp_path / "repo")
    recorded = {"backend_settings": {"s3_object_lock_days": 9, "unknown": 1}}
    Repository.init(LocalBackend(url), b"pw", public=recorded).close()
    calls: list[dict[str, Any]] = []
    real = open_storage  # what storage imported, before the spy replaces it

    def spy(target: str, options: BackendOptions | None = None) -> Any:
        calls.append(dict((options or BackendOptions()).settings))
        return real(target, options)

    monkeypatch.setattr(storage, "open_storage", spy)
    storage.open_repository_backend(url, BackendOptions({"sftp_identity": "k"}))
    assert calls == [{"sftp_identity": "k"}, {"sftp_identity": "k", "s3_object_lock_days": 9}]
    calls.clear()
    storage.open_repository_backend(url, BackendOptions({"s3_object_lock_days": 2}))
    assert calls == [{"s3_object_lock_days": 2}]  # given explicitly: wins, no re-open
    calls.clear()
    storage.open_repository_backend(str(tmp_path / "none"))
    assert calls == [{}]  # no config: opening reports the missing repository


def test_settings_from_flags_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KEYARK_LIMIT_DOWNLOAD", "KEYARK_CONNECTIONS", "KEYARK_FTP_CA_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KEYARK_LIMIT_UPLOAD", "300")
    monkeypatch.setenv("KEYARK_SFTP_IDENTITY", "/env/id")
    options = unbound_options(
        Settings(
            limit_download="1.5", connections="2", s3_endpoint="http://e", sftp_known_hosts="/kh"
        )
    )
    assert options.upload_kib_s == 300 and options.download_kib_s == 1.5
    assert options.connections == 2
    assert options.settings == {
        "sftp_known_hosts": "/kh",
        "sftp_identity": "/env/id",
        "s3_endpoint": "http://e",
    }
    assert unbound_options(Settings(limit_upload="10")).upload_kib_s == 10  # flag wins
    with pytest.raises(UsageError, match="use a whole number"):
        unbound_options(Settings(connections="2.5"))


@pytest.mark.parametrize("before", [True, False])
def test_global_flags_before_or_after_the_verb(
    before: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KEYARK_PASSWORD", "pw")
    monkeypatch.setenv("KEYARK_REPOSITORY", str(tmp_path / "missing"))
    flags = ["--limit-download", "none", "--sftp-identity", "/x"]
    args = [*flags, "snapshots"] if before else ["snapshots", *flags]
    assert main(args) == 1
    assert capsys.readouterr().err == "keyark: --limit-download 'none': not a positive number\n"
