"""keyark: encrypted, deduplicated, verifiable backups of keys, secrets and any other files."""

from __future__ import annotations

__version__ = "0.1.0"
