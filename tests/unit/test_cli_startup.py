"""The CLI's start-up tables stay in step with the verbs (issue 11, sections 2 and 3)."""

from __future__ import annotations

import dataclasses
import importlib

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
