"""Fixtures of the repository-layer integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import PASSWORD

from keyark.backends.local import LocalBackend
from keyark.repo.repository import Repository


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A new local repository (1 MiB packs) opened directly on the backend, by path."""
    location = tmp_path / "repo"
    Repository.init(LocalBackend(location), PASSWORD.encode(), pack_size=1024 * 1024).close()
    return location
