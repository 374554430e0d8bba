"""The backend contract: what every :class:`~keyark.backends.base.Backend` must do.

The checks live in :mod:`keyark.testing.checks`; each works only on names under a
scratch prefix (such as ``"keyark-contract-1a2b/"``). Pytest calls them one by one;
:func:`run_contract` runs them all, cleans up and returns one :class:`ContractResult`
per check (for ``keyark backend check``).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from keyark.backends.base import Backend
from keyark.errors import ContractError
from keyark.testing.checks import CHECKS, Check, ContractOptions, format_names

__all__ = [
    "CHECKS",
    "Check",
    "ContractOptions",
    "ContractResult",
    "cleanup",
    "format_names",
    "run_check",
    "run_contract",
]


@dataclass(frozen=True)
class ContractResult:
    """Outcome of one check."""

    name: str
    ok: bool
    detail: str
    seconds: float = 0.0


def cleanup(backend: Backend, prefix: str) -> int:
    """Delete every object under ``prefix`` (best effort, in parallel); return how many went."""
    try:
        names = [info.name for info in backend.list(prefix)]
    except Exception:
        return 0

    def remove(name: str) -> bool:
        try:
            backend.delete(name)
        except Exception:
            return False
        return True

    try:
        workers = max(1, min(16, backend.capabilities().connections))
    except Exception:
        workers = 1
    with ThreadPoolExecutor(workers) as pool:
        return sum(pool.map(remove, names))


def run_check(
    backend: Backend, name: str, prefix: str, options: ContractOptions | None = None
) -> ContractResult:
    """Run one check in ``prefix + name + "/"``, clean up, and report."""
    options = options or ContractOptions()
    scratch = f"{prefix}{name}/"
    started = time.monotonic()
    try:
        CHECKS[name](backend, scratch, options)
        ok, detail = True, "ok"
    except ContractError as error:
        ok, detail = False, str(error) or "contract violated"
    except Exception as error:
        ok, detail = False, f"{type(error).__name__}: {error}"
    finally:
        cleanup(backend, scratch)
    return ContractResult(name, ok, detail, time.monotonic() - started)


def run_contract(
    backend: Backend,
    prefix: str | None = None,
    *,
    options: ContractOptions | None = None,
    only: Iterable[str] | None = None,
) -> list[ContractResult]:
    """Run every check (or those in ``only``) inside a scratch prefix and clean up.

    ``prefix`` defaults to a fresh ``keyark-contract-<random>/``; objects outside
    it are never touched.
    """
    if prefix is None:
        prefix = f"keyark-contract-{secrets.token_hex(4)}/"
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    names = list(CHECKS) if only is None else list(only)
    unknown = [name for name in names if name not in CHECKS]
    if unknown:
        raise ValueError(f"unknown contract checks: {unknown}")
    try:
        return [run_check(backend, name, prefix, options) for name in names]
    finally:
        if prefix:
            cleanup(backend, prefix)
