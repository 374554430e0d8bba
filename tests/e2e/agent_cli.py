"""Running the installed ``keyark`` as a write-only agent (its credential, no passphrase)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import CLI, keyark_binary


def agent_env(cli: CLI, credential: Path) -> dict[str, str]:
    """``cli``'s environment with the agent credential instead of the passphrase."""
    env = dict(cli.env, KEYARK_AGENT_CREDENTIAL=str(credential))
    env.pop("KEYARK_PASSWORD")
    return env


def run_as_agent(cli: CLI, credential: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run keyark with only the agent credential (no passphrase in the environment)."""
    return subprocess.run(
        [keyark_binary(), *args],
        env=agent_env(cli, credential),
        capture_output=True,
        text=True,
        check=False,
    )
