"""``keyark version``: the version, as text or as restic's ``version`` JSON message."""

from __future__ import annotations

import platform
import sys

import click

from keyark import __version__
from keyark.cli.options import given


def version_info() -> dict[str, str]:
    """The ``--json`` document: restic's ``version`` message with Python in place of Go."""
    return {
        "message_type": "version",
        "version": __version__,
        "python_version": platform.python_version(),
        "os": sys.platform,
        "arch": platform.machine(),
    }


@click.command("version")
@click.pass_context
def command(ctx: click.Context) -> None:
    """Print keyark's version (with --json: as restic's 'version' message)."""
    info = version_info()
    if given(ctx).get("json"):
        import json

        click.echo(json.dumps(info))
        return
    click.echo(
        f"keyark {info['version']} running on Python {info['python_version']} "
        f"on {info['os']}/{info['arch']}"
    )


__all__ = ["command", "version_info"]
