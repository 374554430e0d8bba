"""What every verb starts with: its output and the context its operation runs with."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.render import Output
from keyark.cli.settings import settings_of


def start(ctx: click.Context) -> tuple[Output, ops.OperationContext]:
    """The verb's :class:`Output` and an :class:`~keyark.ops.OperationContext` whose
    events it renders (``out.settings`` holds the global options)."""
    out = Output(settings_of(ctx))
    return out, out.settings.operation_context(out.event)


__all__ = ["start"]
