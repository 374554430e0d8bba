"""JSON over HTTP(S) POST for the Slack and webhook channels (urllib: no dependency)."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit

from keyark import __version__
from keyark.notify.channels.base import DeliveryError, describe

#: How much of a refusing server's answer is kept in the error.
ANSWER_CHARS = 200


def post_json(
    url: str,
    body: bytes,
    *,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    ca_file: str | None = None,
    shown_url: str | None = None,
) -> None:
    """POST ``body`` (JSON) to ``url``; :class:`DeliveryError` unless the answer is 2xx.

    ``shown_url`` is what errors name instead of ``url`` (a secret URL: its host only).
    """
    where = shown_url if shown_url is not None else url
    if urlsplit(url).scheme not in ("http", "https"):
        raise DeliveryError(f"{where} is not an http(s) URL")
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": f"keyark/{__version__}",
            **(headers or {}),
        },
    )
    context = ssl.create_default_context(cafile=ca_file) if url.startswith("https") else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:  # noqa: S310
            answer.read(ANSWER_CHARS)
    except urllib.error.HTTPError as error:
        text = error.read(ANSWER_CHARS).decode("utf-8", "replace")
        raise DeliveryError(
            f"{where} answered HTTP {error.code} {error.reason}: {' '.join(text.split())}"
        ) from None
    except (urllib.error.URLError, OSError, ssl.SSLError) as error:
        reason = error.reason if isinstance(error, urllib.error.URLError) else error
        raise DeliveryError(f"cannot post to {where}: {describe(reason)}") from None


def host_of(url: str) -> str:
    """A secret URL as errors may name it: scheme and host only."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/..."


def without_query(url: str) -> str:
    """A URL as errors may name it: without its query (tokens often sit there)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
