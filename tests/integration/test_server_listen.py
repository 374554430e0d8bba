"""The loopback rule of ``keyark serve`` (the e2e tests run the refusal as a command)."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyark.config.document import KeyarkConfig
from keyark.errors import UsageError
from keyark.server.listen import check_listen, is_loopback
from keyark.server.settings import ServerSettings


def settings(host: str, **more: object) -> ServerSettings:
    return ServerSettings(KeyarkConfig(), None, Path("/nonexistent"), host, 8470, **more)  # type: ignore[arg-type]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)
    check_listen(settings(host))


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "10.1.2.3", "192.0.2.1", "example.org", "127.0.0.1.nip.io"]
)
def test_other_addresses_need_tls_or_an_explicit_choice(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(UsageError, match="not a loopback address"):
        check_listen(settings(host))
    check_listen(settings(host, insecure_http=True))
    check_listen(settings(host, tls_cert=Path("c.pem"), tls_key=Path("k.pem")))


def test_tls_needs_both_files() -> None:
    with pytest.raises(UsageError, match="certificate and its private key"):
        check_listen(settings("127.0.0.1", tls_cert=Path("c.pem")))
