"""``keyark config``: validate, show, describe, create and import the config file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from keyark.cli.config_option import config_file_given, config_option
from keyark.cli.hints import cli_hint
from keyark.cli.options import given
from keyark.errors import EXIT_ERROR, KeyarkError


@click.group("config")
@config_option
def command() -> None:
    """Check, show, describe, create or import the config file (keyark.yaml)."""


def _json_mode(ctx: click.Context) -> bool:
    return bool(given(ctx).get("json"))


@command.command("validate")
@click.argument("file", required=False)
@config_option
@click.pass_context
def validate(ctx: click.Context, file: str | None) -> None:
    """Check FILE (default: --config or the one found) and list every problem."""
    from keyark.config.loading import load_config_file, require_config_file
    from keyark.config.problems import ConfigFileError

    path = require_config_file(file if file is not None else config_file_given(ctx))
    try:
        config = load_config_file(path)
    except ConfigFileError as error:
        if _json_mode(ctx):
            problems = [problem.to_dict() for problem in error.problems]
            click.echo(json.dumps({"file": str(path), "valid": False, "problems": problems}))
        else:
            advice = cli_hint(error.hint)
            sys.stderr.write(f"keyark: {error}\n{'(' + advice + ')' if advice else ''}\n")
        ctx.exit(EXIT_ERROR)
    repositories, jobs = len(config.repositories), len(config.jobs)
    if _json_mode(ctx):
        document = {"file": str(path), "valid": True, "repositories": repositories, "jobs": jobs}
        click.echo(json.dumps(document))
        return
    click.echo(
        f"config {path} is valid: {repositories} repositor{'y' if repositories == 1 else 'ies'}, "
        f"{jobs} job{'' if jobs == 1 else 's'}"
    )


@command.command("schema")
def schema() -> None:
    """Print the JSON Schema of the config file (for editors and checkers)."""
    from keyark.config.display import config_schema

    click.echo(json.dumps(config_schema(), indent=2))


@command.command("show")
@click.argument("file", required=False)
@config_option
@click.pass_context
def show(ctx: click.Context, file: str | None) -> None:
    """Print the effective config (defaults filled in, secrets redacted)."""
    from keyark.config.display import shown_document
    from keyark.config.loading import config_from_option

    config = config_from_option(file if file is not None else config_file_given(ctx))
    document = shown_document(config)
    if _json_mode(ctx):
        click.echo(json.dumps(document, indent=2))
        return
    import yaml

    click.echo(yaml.safe_dump(document, sort_keys=False, default_flow_style=False), nl=False)


@command.command("init")
@click.argument("file", required=False, default="keyark.yaml")
def init(file: str) -> None:
    """Write a commented starter config to FILE (default ./keyark.yaml; never overwrites)."""
    from keyark.config.starter import write_starter

    write_starter(Path(file))
    _audit_written(Path(file), "config init")
    click.echo(f"wrote {file}: edit it, then check it with 'keyark config validate {file}'")


@command.command("import")
@click.argument("backup_config", metavar="BACKUP_CONFIG.json")
@click.argument("monitor_config", metavar="[MONITOR_CONFIG.json]", required=False)
@click.option(
    "-o", "--output", metavar="FILE", help="Write the config to FILE (default: standard output)."
)
def import_(backup_config: str, monitor_config: str | None, output: str | None) -> None:
    """Convert the seed system's backup_config.json (and monitor_config.json) to keyark.yaml.

    Every value is accounted for: where it went, or why it was dropped.
    """
    from keyark.config.seed_import import import_seed_files

    result = import_seed_files(
        Path(backup_config), Path(monitor_config) if monitor_config else None
    )
    text = result.yaml_text()
    if output is None:
        click.echo(text, nl=False)
        return
    from keyark.config.starter import write_starter

    write_starter(Path(output), text)
    _audit_written(Path(output), "config import")
    for note in result.notes:
        click.echo(str(note))
    click.echo(f"wrote {output}: complete the placeholders, then 'keyark config validate {output}'")


def _audit_written(path: Path, event: str) -> None:
    """Record the config file keyark wrote in the audit log of each repository it names."""
    from keyark import ops
    from keyark.config.loading import load_config_file

    try:
        config = load_config_file(path)
    except KeyarkError:
        return  # a file with placeholders to complete: its repositories are not known yet
    problem = ops.audit_event(config, event, ops.Actor.current(), path=str(path.resolve()))
    if problem is not None:
        click.echo(f"warning: the audit record of {event} was not written: {problem}", err=True)


__all__ = ["command"]
