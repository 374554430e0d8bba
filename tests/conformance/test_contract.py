"""The backend contract, run against every backend on a real server."""

from __future__ import annotations

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
