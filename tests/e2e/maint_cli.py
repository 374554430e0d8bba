"""Helpers for the maintenance end-to-end tests (the installed ``keyark`` in subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import CLI, PASSWORD, keyark_binary


def init_small(cli: CLI) -> None:
    """A repository with 1 MiB packs (many packs from little data) and a fast KDF."""
    cli.run("init", "--kdf", "pbkdf2", "--pack-size", "1", check=True)


def objects(repo: Path) -> dict[str, int]:
    """Every stored object (locks included) but the audit log's: relative name -> size.

    A refused operation is audited (by design), so its record is the one change a
    refusal makes; the audit tests check those records."""
    found = {}
    for dirpath, _dirs, files in os.walk(repo):
        for name in files:
            path = Path(dirpath) / name
            relative = path.relative_to(repo)
            if relative.parts[0] != "audit":
                found[str(relative)] = path.stat().st_size
    return found


def write_random(root: Path, files: dict[str, int]) -> Path:
    for name, size in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
    return root


def backup_json(cli: CLI, *args: str) -> dict[str, Any]:
    result = cli.run("backup", *args, "--json", check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def start(cli: CLI, *args: str) -> subprocess.Popen[str]:
    """Run ``keyark ARGS`` in the background."""
    return subprocess.Popen(
        [keyark_binary(), *args],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """Exit ``code``, one ``keyark: ...`` line on stderr, no traceback, no secret."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("keyark: "), result.stderr
    assert PASSWORD not in result.stderr
    return lines[0]


def garbage_repository(cli: CLI, tmp_path: Path) -> None:
    """A repository whose prune has work: two backups of changing data, the first forgotten."""
    init_small(cli)
    source = tmp_path / "src"
    names = {f"k{n:02d}.bin": 96 * 1024 for n in range(40)}
    write_random(source, names)
    cli.run("backup", str(source), check=True)
    write_random(source, {name: size for name, size in list(names.items())[::2]})
    cli.run("backup", str(source), check=True)
    cli.run("forget", "--keep-last", "1", check=True)
