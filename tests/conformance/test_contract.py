"""The backend contract, run against every backend on a real server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from keyark.backends.base import Backend
from keyark.backends.local import LocalBackend
from keyark.testing import CHECKS, ContractOptions, cleanup, run_contract

from .servers import OBJECT_STORES

# > 1000 keys makes S3, GCS and Azure (page size 500 here) return several pages.
MANY_KEYS = {"s3": 1100, "azure": 1100, "gcs": 1100}


@pytest.mark.parametrize("check", list(CHECKS))
def test_contract(backend: Backend, backend_kind: str, check: str) -> None:
    options = ContractOptions(many_keys=MANY_KEYS.get(backend_kind, 150))
    prefix = f"contract/{check}/"
    try:
        CHECKS[check](backend, prefix, options)
    finally:
        cleanup(backend, prefix)
    if backend_kind in OBJECT_STORES or backend_kind == "local":
        assert not list(backend.list("")), "cleanup left objects behind"


def test_run_contract_reports_every_check(tmp_path: object) -> None:
    backend = LocalBackend(str(tmp_path))
    results = run_contract(backend, options=ContractOptions(many_keys=20, large_mib=2))
    assert [result.name for result in results] == list(CHECKS)
    failed = [(result.name, result.detail) for result in results if not result.ok]
    assert not failed
    assert not list(backend.list("")), "run_contract left objects behind"


def test_run_contract_reports_failures(tmp_path: object) -> None:
    class Forgetful(LocalBackend):
        def put(self, name: str, data: bytes, *, overwrite: bool = False) -> None:
            super().put(name, data, overwrite=True)  # never refuses an overwrite

    results = run_contract(Forgetful(str(tmp_path)), only=["refuse_overwrite", "put_get"])
    by_name = {result.name: result for result in results}
    assert by_name["put_get"].ok
    assert not by_name["refuse_overwrite"].ok
    assert "AlreadyExistsError" in by_name["refuse_overwrite"].detail


# Run in a child under ``python -O`` (assert statements stripped): a backend whose stat and
# list report every size one byte too large must still fail the contract.
_OPTIMIZED_CONTRACT = """
import json, sys
from keyark.backends.base import ObjectInfo
from keyark.backends.local import LocalBackend
from keyark.testing import ContractOptions, run_contract

class WrongSizes(LocalBackend):
    def stat(self, name):
        info = super().stat(name)
        return ObjectInfo(info.name, info.size + 1)

    def list(self, prefix):
        for info in super().list(prefix):
            yield ObjectInfo(info.name, info.size + 1)

kind, root = sys.argv[1], sys.argv[2]
backend = (WrongSizes if kind == "wrong-sizes" else LocalBackend)(root)
results = run_contract(backend, options=ContractOptions(many_keys=20, large_mib=2))
print(json.dumps({
    "optimize": sys.flags.optimize,
    "failed": {result.name: result.detail for result in results if not result.ok},
}))
"""


def _contract_under_optimize(kind: str, root: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-O", "-c", _OPTIMIZED_CONTRACT, kind, str(root)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    report: dict[str, Any] = json.loads(done.stdout)
    assert report["optimize"] == 1
    return report


def test_contract_fails_wrong_sizes_under_python_optimize(tmp_path: Path) -> None:
    failed = _contract_under_optimize("wrong-sizes", tmp_path)["failed"]
    for check in ("put_get", "overwrite_replaces", "stat_sizes", "listing", "large_object"):
        assert check in failed, f"{check} passed a backend whose sizes are wrong: {failed}"
    assert "is 1501, expected 1500" in failed["put_get"]
    assert "expected size 0" in failed["stat_sizes"]


def test_contract_passes_a_correct_backend_under_python_optimize(tmp_path: Path) -> None:
    assert _contract_under_optimize("local", tmp_path)["failed"] == {}
