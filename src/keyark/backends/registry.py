"""Open a backend from a repository URL.

``/path``, ``./path`` or ``file:///path`` is the local backend. Other schemes are
registered by their modules; a scheme whose optional extra is missing raises
:class:`MissingExtraError` naming the extra to install.

:func:`open_backend` returns the bare backend (what the conformance suite tests);
:func:`open_storage` returns it as repositories use it: remote backends wrapped in
:class:`~keyark.backends.retry.RetryingBackend`, and every backend in
:class:`~keyark.backends.throttle.ThrottledBackend` when a bandwidth limit is set
(``RetryingBackend(ThrottledBackend(inner))``, so a retried transfer is charged again).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from keyark.backends.base import Backend
from keyark.backends.retry import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BASE_DELAY,
    DEFAULT_MAX_DELAY,
    RetryingBackend,
)
from keyark.backends.throttle import ThrottledBackend
from keyark.cancel import CancelToken
from keyark.errors import MissingExtraError, UsageError
from keyark.events import Events


@dataclass(frozen=True)
class BackendOptions:
    """Backend settings that come from flags rather than the URL."""

    #: Per-backend settings (``sftp_identity``, ``s3_endpoint``, ...), typed and checked
    #: by :mod:`keyark.config`; credentials are ``SecretStr`` values (masked by ``repr()``).
    settings: dict[str, Any] = field(default_factory=dict)
    #: Upload bandwidth limit in KiB/s (``--limit-upload``); None = unlimited.
    upload_kib_s: float | None = None
    #: Download bandwidth limit in KiB/s (``--limit-download``); None = unlimited.
    download_kib_s: float | None = None
    #: Parallel connections (``--connections``): sets ``<backend>_connections``.
    connections: int | None = None
    #: Attempts per operation of a remote backend (1 = no retries).
    retry_attempts: int = DEFAULT_ATTEMPTS
    #: First retry delay ceiling, seconds (doubles per attempt, full jitter).
    retry_base_delay: float = DEFAULT_BASE_DELAY
    #: Largest retry delay ceiling, seconds.
    retry_max_delay: float = DEFAULT_MAX_DELAY
    #: Where the retry wrapper reports retries (the operation's events), if anywhere.
    events: Events | None = field(default=None, repr=False, compare=False)
    #: Cancels retry sleeps (the operation's cancel token), if anything does.
    cancel: CancelToken | None = field(default=None, repr=False, compare=False)

    def with_settings(self, extra: dict[str, Any]) -> BackendOptions:
        """A copy with ``extra`` added to (and overriding) the settings."""
        return replace(self, settings={**self.settings, **extra})


def secret_setting(settings: dict[str, Any], key: str) -> str | None:
    """A credential setting as text: a ``SecretStr`` (what the config resolver gives) or str."""
    value = settings.get(key)
    if value is None:
        return None
    reveal = getattr(value, "get_secret_value", None)
    return str(reveal() if callable(reveal) else value)


Factory = Callable[[str, BackendOptions], Backend]

#: scheme -> (module path, factory attribute, extra name)
_SCHEMES: dict[str, tuple[str, str, str]] = {
    "sftp": ("keyark.backends.sftp", "from_url", "sftp"),
    "s3": ("keyark.backends.s3", "from_url", "s3"),
    "azure": ("keyark.backends.azure", "from_url", "azure"),
    "gs": ("keyark.backends.gcs", "from_url", "gcs"),
    "ftp": ("keyark.backends.ftp", "from_url", "ftp"),
    "ftps": ("keyark.backends.ftp", "from_url", "ftp"),
}


def scheme_of(url: str) -> str:
    """Return the URL scheme, ``"file"`` for plain paths."""
    if "://" not in url:
        return "file"
    return urlsplit(url).scheme.lower()


def settings_prefix(url: str) -> str:
    """The prefix of this URL's backend settings (``s3``, ``gcs``, ``ftp``, ...)."""
    scheme = scheme_of(url)
    return "local" if scheme == "file" else _SCHEMES.get(scheme, ("", "", scheme))[2]


def open_storage(url: str, options: BackendOptions | None = None) -> Backend:
    """Return the backend for ``url`` as a repository uses it: with retries and limits.

    Remote backends retry transient errors (``options.retry_attempts``, exponential
    backoff with full jitter, each retry logged and reported to ``options.events``,
    backoffs ended by ``options.cancel``); the local backend is not retried.
    Bandwidth limits wrap any backend.
    """
    options = options or BackendOptions()
    for limit in (options.upload_kib_s, options.download_kib_s):
        if limit is not None and not limit > 0:
            raise UsageError("bandwidth limits must be positive numbers of KiB/s")
    if options.connections is not None:
        if options.connections < 1:
            raise UsageError("connections must be at least 1")
        key = f"{settings_prefix(url)}_connections"
        options = options.with_settings({key: options.connections, **options.settings})
    backend = open_backend(url, options)
    if options.upload_kib_s or options.download_kib_s:
        backend = ThrottledBackend(
            backend, options.upload_kib_s, options.download_kib_s, cancel=options.cancel
        )
    if scheme_of(url) != "file" and options.retry_attempts > 1:
        backend = RetryingBackend(
            backend,
            attempts=options.retry_attempts,
            base_delay=options.retry_base_delay,
            max_delay=options.retry_max_delay,
            events=options.events,
            cancel=options.cancel,
        )
    return backend


def open_backend(url: str, options: BackendOptions | None = None) -> Backend:
    """Return the bare backend for ``url`` (no retries, no limits; see :func:`open_storage`)."""
    options = options or BackendOptions()
    scheme = scheme_of(url)
    if scheme == "file":
        from keyark.backends.local import LocalBackend

        path = urlsplit(url).path if url.startswith("file://") else url
        if not path:
            raise UsageError(f"repository URL {url!r} has no path")
        return LocalBackend(path, connections=int(options.settings.get("local_connections", 2)))
    if scheme not in _SCHEMES:
        known = ", ".join(["file", *sorted(_SCHEMES)])
        raise UsageError(f"unknown repository scheme {scheme!r} (known: {known})")
    module_name, attribute, extra = _SCHEMES[scheme]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise MissingExtraError(
            f"the {scheme}:// backend needs an optional dependency ({error.name}): "
            f"pip install 'keyark[{extra}]'"
        ) from None
    factory: Factory = getattr(module, attribute)
    return factory(url, options)
