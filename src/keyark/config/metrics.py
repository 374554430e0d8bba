"""The config file's ``metrics:`` section: the daemon's Prometheus endpoint and the
textfile for node_exporter."""

from __future__ import annotations

from pydantic import field_validator, model_validator

from keyark.config.listen import listen_address
from keyark.config.section import Section


class MetricsSection(Section):
    """Prometheus metrics: the daemon's ``/metrics`` endpoint and the textfile for cron users."""

    enabled: bool = True
    """Serve metrics from the daemon."""
    listen: str = "127.0.0.1:9473"
    """``host:port`` the daemon serves ``/metrics`` on (``[::1]:9473`` for IPv6)."""
    basic_auth_user: str | None = None
    """Require HTTP basic auth with this user name (and ``basic_auth_password_file``)."""
    basic_auth_password_file: str | None = None
    """A file holding the basic-auth password (its trailing newline is ignored)."""
    tls_cert: str | None = None
    """Serve HTTPS with this certificate (PEM; with ``tls_key``)."""
    tls_key: str | None = None
    """The private key (PEM) of ``tls_cert``."""
    textfile_dir: str | None = None
    """Where ``metrics --textfile`` writes ``keyark.prom`` when no directory is given."""

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        listen_address(value)
        return value

    @model_validator(mode="after")
    def _pairs(self) -> MetricsSection:
        if (self.basic_auth_user is None) != (self.basic_auth_password_file is None):
            raise ValueError("basic_auth_user and basic_auth_password_file go together")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        return self
