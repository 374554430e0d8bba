"""Backends and the catalog get settings and credentials as parameters (issue 10, section 2)."""

from __future__ import annotations

from pathlib import Path

import keyark

PACKAGE = Path(keyark.__file__).resolve().parent


def test_no_backend_or_catalog_module_reads_the_environment() -> None:
    files = sorted((PACKAGE / "backends").rglob("*.py")) + sorted(
        (PACKAGE / "catalog").rglob("*.py")
    )
    assert len(files) > 5
    offenders = [
        str(path.relative_to(PACKAGE)) for path in files if "os.environ" in path.read_text()
    ]
    assert offenders == []
