"""The config file's ``metrics:`` section: listen addresses and the settings that go in pairs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from keyark.config.document import KeyarkConfig
from keyark.config.listen import ListenAddress, listen_address


def test_listen_addresses() -> None:
    assert listen_address("127.0.0.1:9473") == ListenAddress("127.0.0.1", 9473)
    assert listen_address("[::1]:9473") == ListenAddress("::1", 9473)
    assert str(ListenAddress("::1", 9473)) == "[::1]:9473"
    assert listen_address("localhost:0").port == 0
    for bad in ("9473", "::1:9473", "host:", ":9473", "host:port", "host:70000"):
        with pytest.raises(ValueError, match="listen address"):
            listen_address(bad)


def test_defaults_and_refusals() -> None:
    section = KeyarkConfig().metrics
    assert section.enabled and section.listen == "127.0.0.1:9473"
    assert section.basic_auth_user is None and section.tls_cert is None
    refused = (
        {"listen": "nowhere"},
        {"basic_auth_user": "prom"},
        {"basic_auth_password_file": "/etc/keyark/pw"},
        {"tls_cert": "/etc/keyark/c.pem"},
        {"basic_auth_password": "inline"},
    )
    for metrics in refused:
        with pytest.raises(ValidationError):
            KeyarkConfig.model_validate({"metrics": metrics})
    accepted = KeyarkConfig.model_validate(
        {"metrics": {"basic_auth_user": "prom", "basic_auth_password_file": "/etc/keyark/pw"}}
    )
    assert accepted.metrics.basic_auth_user == "prom"
