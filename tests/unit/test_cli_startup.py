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
from tests.conftest import CLI

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
    "keyark.repo.agent_session",
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
    # Output in a pipe is plain text: rich loads only to draw on a terminal.
    "rich",
    "keyark.cli.live_bar",
    # RSA recipients only (cryptography's serialization loads SSH, PKCS#12, bcrypt...).
    "cryptography.hazmat.primitives.serialization",
    # Chunking is for writing: reading needs the chunker's parameters only.
    "pyfastcdc",
)
#: The operation modules ``snapshots`` needs; every other ``keyark.ops.*`` is a regression.
SNAPSHOTS_OPERATIONS = {
    "keyark.ops",
    "keyark.ops.catalogue",
    "keyark.ops.session",
    "keyark.ops.snapshots",
    "keyark.ops.table",
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


#: Run ``keyark snapshots`` in this interpreter, then print the modules it imported and,
#: per backend, whether its options model was built (``__pydantic_complete__``).
_PROBE = """
import json, sys
from keyark.cli.main import main
code = main(['snapshots'])
from keyark.config.backends import OPTION_MODELS
built = {name: model.__pydantic_complete__ for name, model in OPTION_MODELS.items()}
if sys.argv[1:] == ['--control']:  # validating an S3 section builds that model, no other
    from keyark.config.models import RepositorySpec
    RepositorySpec.model_validate({'url': 's3://bucket/prefix', 's3': {'region': 'x'}})
    built = {name: model.__pydantic_complete__ for name, model in OPTION_MODELS.items()}
print(json.dumps([code, sorted(sys.modules), built]))
"""


def _snapshots_with_a_key_file(cli: CLI, *control: str) -> tuple[str, list[str], dict[str, bool]]:
    """``keyark snapshots`` listing a real repository opened with its key file
    (``cli.env``), in a fresh interpreter: its output, the modules it imported, which
    option models it built."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *control],
        capture_output=True,
        text=True,
        env=cli.env,
        check=True,
    )
    *listing, last = result.stdout.splitlines()
    code, modules, built = json.loads(last)
    assert code == 0, result.stderr
    return "\n".join(listing), modules, built


@pytest.fixture
def backed_up(cli: CLI, tmp_path: Path) -> CLI:
    """A repository with one snapshot of a one-file tree, opened with a key file."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "tls.key").write_text("-----BEGIN PRIVATE KEY-----\n")
    cli.run("init", check=True)
    cli.run("backup", "-q", str(tree), check=True)
    key_file = tmp_path / "probe.key"
    cli.run("key", "add", "--key-file", str(key_file), check=True)
    del cli.env["KEYARK_PASSWORD"]
    cli.env["KEYARK_KEY_FILE"] = str(key_file)
    return cli


def test_snapshots_with_a_key_file_lists_without_the_heavy_modules(
    backed_up: CLI, tmp_path: Path
) -> None:
    """Not even once the repository is open and listed: a key file is unlocked by
    ``keyark.crypto.credentials``, without the key-slot pipelines (``keyark.keys``), the
    recovery shares or the PKCS#11 driver; a pipe gets plain text, without rich; of the
    backend option models only the repository's own (local) is built."""
    listing, modules, built = _snapshots_with_a_key_file(backed_up)
    # Positive controls: the repository was opened and listed, through the key-file unlocker.
    assert "1 snapshot" in listing and str(tmp_path / "tree") in listing, listing
    assert {"keyark.repo.repository", "keyark.crypto.keyfile", "keyark.ops.snapshots"} <= set(
        modules
    )
    heavy = [m for m in modules if m.startswith(NOT_ON_THE_SNAPSHOTS_PATH)]
    assert heavy == [], f"imported by snapshots with a key file: {heavy}; import them where used"
    assert built == {name: name == "local" for name in built}, built
    # Positive control of the last check: validating an S3 section builds S3Options.
    _, _, built = _snapshots_with_a_key_file(backed_up, "--control")
    assert built == {name: name in ("local", "s3") for name in built}, built
