"""Open a backend from a repository URL.

``/path``, ``./path`` or ``file:///path`` is the local backend. Other schemes are
registered by their modules; a scheme whose optional extra is missing raises
:class:`MissingExtraError` naming the extra to install.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from keyark.backends.base import Backend
from keyark.errors import MissingExtraError, UsageError


@dataclass(frozen=True)
class BackendOptions:
    """Backend settings that come from flags rather than the URL."""

    #: Free-form per-backend settings (``sftp_identity``, ``s3_endpoint``, ...).
    settings: dict[str, Any] = field(default_factory=dict)


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


def open_backend(url: str, options: BackendOptions | None = None) -> Backend:
    """Return a backend for ``url`` (not yet checked for a repository)."""
    options = options or BackendOptions()
    scheme = scheme_of(url)
    if scheme == "file":
        from keyark.backends.local import LocalBackend

        path = urlsplit(url).path if url.startswith("file://") else url
        if not path:
            raise UsageError(f"repository URL {url!r} has no path")
        return LocalBackend(path)
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
