"""Fixtures of the conformance suite: one fresh backend of each kind per test.

The servers themselves are session fixtures of :mod:`tests.conformance.fixtures`
(registered for the whole tree in ``tests/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keyark.backends.base import Backend

from .servers import BACKEND_KINDS, open_fresh_backend


@pytest.fixture(params=BACKEND_KINDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend(backend_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    instance = open_fresh_backend(backend_kind, request, tmp_path)
    try:
        yield instance
    finally:
        instance.close()
