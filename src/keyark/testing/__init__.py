"""Helpers for testing keyark and the storage it runs on (the backend contract)."""

from keyark.testing.contract import (
    CHECKS,
    ContractOptions,
    ContractResult,
    cleanup,
    run_check,
    run_contract,
)

__all__ = ["CHECKS", "ContractOptions", "ContractResult", "cleanup", "run_check", "run_contract"]
