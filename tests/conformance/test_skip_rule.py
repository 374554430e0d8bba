"""A missing test server skips locally but fails under CI=true."""

from __future__ import annotations

import pytest

from . import servers


def test_missing_server_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(servers, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        servers.missing("some server")


def test_missing_server_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(servers, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="CI=true and some server is not installed"):
        servers.missing("some server")


def test_ci_flag_follows_environment() -> None:
    import os

    assert servers.IN_CI == (os.environ.get("CI") == "true")
