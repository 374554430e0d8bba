"""The pre-catalogue context of the repository-level functions (being replaced by
``keyark.context.OperationContext``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Warn = Callable[[str], None]


@dataclass
class Context:
    """Where client-side state lives (cache, catalog)."""

    cache_dir: Path | None = None
    warn: Warn | None = None
    #: Seconds to keep retrying a lock another process holds (``--retry-lock``).
    retry_lock: float = 0.0
