"""The CLI's start-up tables stay in step with the verbs (issue 11, sections 2 and 3)."""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from keyark.cli.main import SUMMARIES, VERBS, cli
from keyark.cli.options import GLOBAL, VERB_OPTIONS, attach_everywhere
from keyark.cli.settings import Settings


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_verb_has_its_one_line_help_in_the_static_table(verb: str) -> None:
    """``keyark --help`` shows SUMMARIES without importing the verbs: keep them equal."""
    command = importlib.import_module(VERBS[verb]).command
    assert SUMMARIES.get(verb) == command.get_short_help_str(limit=1000), (
        f"set SUMMARIES[{verb!r}] in keyark/cli/main.py to the verb's first help line"
    )


def test_settings_has_a_field_for_every_option() -> None:
    names = {field.name for field in dataclasses.fields(Settings)}
    options = {spec.name for spec in GLOBAL} | {
        spec.name for specs in VERB_OPTIONS.values() for spec in specs
    }
    assert options <= names, options - names


def test_every_command_accepts_the_global_options_once() -> None:
    ctx = click.Context(cli, info_name="keyark")
    seen = 0
    for verb in VERBS:
        command = cli.get_command(ctx, verb)
        assert command is not None
        attach_everywhere(command, verb)  # idempotent
        stack = [command]
        while stack:
            each = stack.pop()
            flags = [flag for param in each.params for flag in param.opts]
            assert len(flags) == len(set(flags)), (each.name, flags)
            assert "--repo" in flags and "--no-lock" in flags, each.name
            seen += 1
            if isinstance(each, click.Group):
                stack += list(each.commands.values())
    assert seen > len(VERBS)


def test_verb_options_name_real_commands() -> None:
    ctx = click.Context(cli, info_name="keyark")
    for path in VERB_OPTIONS:
        command: click.Command | None = cli
        for part in path.split():
            assert isinstance(command, click.Group)
            command = command.get_command(ctx, part)
        assert command is not None, path


#: What ``keyark snapshots`` must not import before it opens the repository: other
#: operations and their pipelines, the key-slot and agent pipelines, PKCS#11, Shamir
#: shares, cloud SDKs (issue 11, section 3: every command pays for what it imports).
NOT_ON_THE_SNAPSHOTS_PATH = (
    "keyark.agents",
    "keyark.archiver",
    "keyark.restorer",
    "keyark.keys",
    "keyark.replication",
    "keyark.crypto.hsm",
    "keyark.crypto.shares",
    "keyark.maintenance.forget",
    "keyark.maintenance.prune",
    "keyark.maintenance.check",
    "boto3",
    "botocore",
    "paramiko",
    "pkcs11",
    "azure",
    "google",
    "shamir_mnemonic",
    "yaml",
)
#: The operation modules ``snapshots`` needs; every other ``keyark.ops.*`` is a regression.
SNAPSHOTS_OPERATIONS = {
    "keyark.ops",
    "keyark.ops.catalogue",
    "keyark.ops.session",
    "keyark.ops.snapshots",
}


def _loaded_by_snapshots(tmp_path: Path) -> list[str]:
    """``keyark snapshots`` on a missing repository (it stops where it would open it),
    in a fresh interpreter: the modules it imported."""
    probe = (
        "import json, sys\n"
        "from keyark.cli.main import main\n"
        "code = main(['snapshots'])\n"
        "print(json.dumps([code, sorted(sys.modules)]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYARK_", "AWS_"))}
    env |= {
        "KEYARK_REPOSITORY": str(tmp_path / "missing"),
        "KEYARK_PASSWORD": "startup probe",
        "KEYARK_CACHE_DIR": str(tmp_path / "cache"),
    }
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    code, modules = json.loads(result.stdout.splitlines()[-1])
    assert code != 0 and "no repository" in result.stderr, result.stderr  # it got that far
    assert "keyark.ops.snapshots" in modules  # positive control: the probe ran the verb
    return list(modules)


def test_snapshots_imports_nothing_heavy_before_opening_the_repository(tmp_path: Path) -> None:
    modules = _loaded_by_snapshots(tmp_path)
    heavy = [m for m in modules if m.startswith(NOT_ON_THE_SNAPSHOTS_PATH)]
    other_operations = [
        m for m in modules if m.startswith("keyark.ops") and m not in SNAPSHOTS_OPERATIONS
    ]
    assert heavy == [], f"imported on the snapshots path: {heavy}; import them where used"
    assert other_operations == [], (
        f"operation modules imported by snapshots: {other_operations}; "
        "keyark.ops loads each on first use of one of its names"
    )
