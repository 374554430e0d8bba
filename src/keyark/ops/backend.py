"""``backend check``: run the storage contract against the context's storage location.

Only objects under a fresh ``keyark-contract-<random>/`` prefix are written and
removed, so the location may hold a repository; no key is needed.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keyark.backends.registry import BackendOptions, open_storage, scheme_of
from keyark.context import OperationContext
from keyark.errors import UsageError
from keyark.ops.catalogue import operation
from keyark.testing import CHECKS, ContractOptions, ContractResult, cleanup, run_check


@dataclass(frozen=True)
class BackendCheckOptions:
    """How heavy the checks are, and which to run (default: all of :data:`CHECKS`)."""

    #: Objects written for the listing check (over 1000 exercises paging).
    many: int = 1200
    #: Size of the large-object check, MiB.
    large_mib: int = 20
    only: list[str] = field(default_factory=list)


@dataclass
class BackendCheckReport:
    """Outcome of the backend check: one result per contract check."""

    location: str
    results: list[ContractResult] = field(default_factory=list)
    duration_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_type": "backend_check",
            "location": self.location,
            "ok": self.ok,
            "failed": sum(1 for result in self.results if not result.ok),
            "duration_seconds": round(self.duration_seconds, 3),
            "checks": [
                {
                    "name": result.name,
                    "ok": result.ok,
                    "detail": result.detail,
                    "seconds": round(result.seconds, 3),
                }
                for result in self.results
            ],
        }


@operation("backend check", options=BackendCheckOptions, result=BackendCheckReport, mutates=True)
def backend_check(ctx: OperationContext, options: BackendCheckOptions) -> BackendCheckReport:
    """Check that a storage location behaves as keyark needs (in a scratch prefix)."""
    unknown = [name for name in options.only if name not in CHECKS]
    if unknown:
        raise UsageError(f"unknown check {unknown[0]!r}; the checks are: {', '.join(CHECKS)}")
    return check_backend(
        ctx.url,
        ctx.backend_options(),
        ContractOptions(many_keys=options.many, large_mib=options.large_mib),
        only=list(options.only) or None,
        ctx=ctx,
    )


def check_backend(
    url: str,
    options: BackendOptions | None = None,
    contract: ContractOptions | None = None,
    only: Iterable[str] | None = None,
    *,
    ctx: OperationContext | None = None,
) -> BackendCheckReport:
    """Run the backend contract against ``url`` in a scratch prefix, then clean up.

    Objects outside the scratch prefix ``keyark-contract-<random>/`` are never
    touched, so this is safe on storage that already holds a repository. Progress
    (phase ``backend check``: checks done of all, the one running) goes to
    ``ctx.events``; a cancel is honoured between checks.
    """
    ctx = ctx or OperationContext()
    started = time.monotonic()
    prefix = f"keyark-contract-{secrets.token_hex(4)}/"
    names = list(only) if only else list(CHECKS)
    results: list[ContractResult] = []
    backend = open_storage(url, options)
    try:
        try:
            for name in names:
                ctx.cancel.check()
                ctx.events.progress(
                    "backend check",
                    files_done=len(results),
                    files_total=len(names),
                    current=name,
                    final=True,
                )
                results.append(run_check(backend, name, prefix, contract))
        finally:
            cleanup(backend, prefix)
        location = backend.location()
    finally:
        backend.close()
    ctx.events.progress(
        "backend check", files_done=len(results), files_total=len(names), final=True
    )
    if scheme_of(url) == "file":
        _remove_empty_directories(Path(location) / prefix)
    return BackendCheckReport(location, results, time.monotonic() - started)


def _remove_empty_directories(top: Path) -> None:
    """Remove the directories a local check left behind (only empty ones)."""
    if not top.is_dir():
        return
    for directory, _subdirs, _files in sorted(os.walk(top), key=lambda e: -len(e[0])):
        try:
            os.rmdir(directory)
        except OSError:
            pass
