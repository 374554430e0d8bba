"""Session fixtures: the real storage servers on 127.0.0.1, shared by every suite.

Registered for the whole test tree by ``pytest_plugins`` in ``tests/conftest.py``, so
the conformance suite and the end-to-end tests share one instance of each server.
Each starts on first use and stops at the end of the session; see
:mod:`tests.conformance.servers` for the helpers and the skip rule (a missing program
skips, but fails under ``CI=true``; install them with ``scripts/install-test-servers.sh``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from tests.conformance.servers import (
    FTPInfo,
    SSHInfo,
    start_azurite,
    start_fake_gcs,
    start_ftp,
    start_moto,
    start_sshd,
)

#: Variables that could point the cloud SDKs at real accounts; removed for the session.
FOREIGN_VARIABLES = (
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_ACCOUNT",
    "AZURE_STORAGE_KEY",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "SSH_AUTH_SOCK",
)


@pytest.fixture(scope="session")
def session_env() -> Iterator[pytest.MonkeyPatch]:
    """Environment for the whole session (cloud credentials for the emulators)."""
    with pytest.MonkeyPatch.context() as patch:
        for variable in FOREIGN_VARIABLES:
            patch.delenv(variable, raising=False)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.setenv("AWS_CONFIG_FILE", os.devnull)
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        yield patch


@pytest.fixture(scope="session")
def sshd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHInfo]:
    server, info = start_sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield info
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_endpoint(
    tmp_path_factory: pytest.TempPathFactory, session_env: pytest.MonkeyPatch
) -> Iterator[str]:
    server, endpoint = start_moto(tmp_path_factory.mktemp("moto"))
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_with_auth(
    tmp_path_factory: pytest.TempPathFactory, session_env: pytest.MonkeyPatch
) -> Iterator[str]:
    """A second moto server that checks access keys (none exist, so every key is bad)."""
    server, endpoint = start_moto(
        tmp_path_factory.mktemp("moto-auth"), {"INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    )
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.fixture(scope="session")
def azurite_connection_string(
    tmp_path_factory: pytest.TempPathFactory, session_env: pytest.MonkeyPatch
) -> Iterator[str]:
    server, connection_string = start_azurite(tmp_path_factory.mktemp("azurite"))
    session_env.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string)
    try:
        yield connection_string
    finally:
        server.stop()


@pytest.fixture(scope="session")
def gcs_endpoint(
    tmp_path_factory: pytest.TempPathFactory, session_env: pytest.MonkeyPatch
) -> Iterator[str]:
    server, endpoint = start_fake_gcs(tmp_path_factory.mktemp("gcs"))
    session_env.setenv("STORAGE_EMULATOR_HOST", endpoint)
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.fixture(scope="session")
def ftp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FTPInfo]:
    server, info = start_ftp(tmp_path_factory.mktemp("ftp"), tls=False)
    try:
        yield info
    finally:
        server.stop()


@pytest.fixture(scope="session")
def ftps_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FTPInfo]:
    server, info = start_ftp(tmp_path_factory.mktemp("ftps"), tls=True)
    try:
        yield info
    finally:
        server.stop()
