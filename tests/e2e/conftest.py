"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import CLI


@pytest.fixture
def agent(cli: CLI, tmp_path: Path) -> Path:
    """An initialised repository with agent ``web1``; its credential file."""
    cli.run("init", check=True)
    credential = tmp_path / "web1.cred"
    cli.run("agent", "add", "web1", "--out", str(credential), check=True)
    return credential
