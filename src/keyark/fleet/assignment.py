"""What the server assigns an enrolled host: its repository and the jobs naming that host.

The smallest rule: a job of the server's config file is assigned to host ``H`` when its
``host:`` is ``H`` and it backs up into the repository the host is enrolled on. The jobs
are copied as written in the config file (so durations and schedules keep their
spelling); the agent's config names the repository with its agent credential instead of
a passphrase.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from keyark.config.document import KeyarkConfig
from keyark.errors import UsageError


def _raw_jobs(config_path: Path | None) -> dict[str, Any]:
    if config_path is None:
        return {}
    try:
        document = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    jobs = document.get("jobs") if isinstance(document, dict) else None
    return jobs if isinstance(jobs, dict) else {}


def assigned_config(
    config: KeyarkConfig, config_path: Path | None, host: str, repository: str | None = None
) -> dict[str, Any]:
    """The assignment of ``host``: ``{"repository": {"name", "url"}, "jobs": {...}}`` for
    the named repository of ``config`` (default: its first)."""
    names = list(config.repositories)
    name = repository or (names[0] if names else None)
    if name is None or name not in config.repositories:
        raise UsageError("the server's config names no repository to enrol agents on")
    raw = _raw_jobs(config_path)
    jobs = {
        job_name: raw.get(job_name, {})
        for job_name, job in config.jobs.items()
        if job.host == host and job.repository == name and isinstance(raw.get(job_name), dict)
    }
    return {"repository": {"name": name, "url": config.repositories[name].url}, "jobs": jobs}


def config_etag(assignment: dict[str, Any]) -> str:
    """A strong ETag of an assignment (its canonical JSON's SHA-256)."""
    canonical = json.dumps(assignment, sort_keys=True, separators=(",", ":")).encode()
    return '"' + hashlib.sha256(canonical).hexdigest()[:32] + '"'


__all__ = ["assigned_config", "config_etag"]
