"""Helpers for testing keyark and the storage it runs on (public testing tools).

- The backend contract (:mod:`keyark.testing.contract`, checks in
  :mod:`keyark.testing.checks`): what every backend must do.
- :class:`~keyark.testing.faults.FaultInjectingBackend`: a backend wrapper that fails
  on purpose, for tests of retries and recovery.
"""

from keyark.testing.contract import (
    CHECKS,
    ContractOptions,
    ContractResult,
    cleanup,
    run_check,
    run_contract,
)
from keyark.testing.faults import FaultInjectingBackend

__all__ = [
    "CHECKS",
    "ContractOptions",
    "ContractResult",
    "FaultInjectingBackend",
    "cleanup",
    "run_check",
    "run_contract",
]
