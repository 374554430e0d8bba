"""Core dumps are off for every face, the Python API included (issue 8 §9).

A core dump of a process that unlocked a repository holds the keyring key, the
data keys and the passphrase. The command line used to lower RLIMIT_CORE for
itself only; a program using the Python API could still dump core. Each face is
run in a fresh interpreter that first makes itself dumpable with a core limit,
then uses keyark, and reports both settings.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import CLI, PASSWORD

PROBE = """
import ctypes, json, resource, sys
libc = ctypes.CDLL(None)
def state():
    return {"core": list(resource.getrlimit(resource.RLIMIT_CORE)),
            "dumpable": libc.prctl(3, 0, 0, 0, 0)}  # PR_GET_DUMPABLE
try:
    resource.setrlimit(resource.RLIMIT_CORE, (1 << 20, 1 << 20))
except (ValueError, OSError):
    pass
libc.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: start from a dumpable process
before = state()
face, repo, password = sys.argv[1], sys.argv[2], sys.argv[3]
if face == "import":
    import keyark
elif face == "repository":
    from keyark.repo.repository import Repository
    from keyark.crypto.slots import Credentials
    from keyark import ops
    ops.open_repository(repo, Credentials(passphrase=password.encode())).close()
elif face == "api":
    from keyark.api import BackupManager
    BackupManager(repository=repo, password=password).list_backups()
elif face == "cli":
    from keyark.cli.main import main
    import os
    os.environ.update(KEYARK_REPOSITORY=repo, KEYARK_PASSWORD=password)
    assert main(["snapshots", "--json"]) == 0
sys.stdout.flush()
print("PROBE " + json.dumps({"before": before, "after": state()}))
"""


def _probe(face: str, repo: Path, env: dict[str, str]) -> dict[str, dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, face, str(repo), PASSWORD],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    line = [x for x in result.stdout.splitlines() if x.startswith("PROBE ")][-1]
    report: dict[str, dict[str, object]] = json.loads(line[len("PROBE ") :])
    return report


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux-only")
@pytest.mark.parametrize("face", ["import", "repository", "api", "cli"])
def test_every_face_disables_core_dumps(face: str, cli: CLI) -> None:
    cli.run("init", check=True)
    report = _probe(face, cli.repo, cli.env)
    # positive control: the probe really started dumpable
    assert report["before"]["dumpable"] == 1
    assert report["after"] == {"core": [0, 0], "dumpable": 0}


def test_probe_without_keyark_stays_dumpable(cli: CLI) -> None:
    """Control: the probe itself does not turn dumps off, so the test above can fail."""
    report = _probe("none", cli.repo, cli.env)
    assert report["after"]["dumpable"] == 1
    assert report["after"] == report["before"]
