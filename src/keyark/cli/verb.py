"""What every verb starts with: its output and the context its operation runs with."""

from __future__ import annotations

from pathlib import Path

import click

from keyark import ops
from keyark.cli.invocation import CANCEL
from keyark.cli.render import Output
from keyark.cli.settings import settings_of
from keyark.config import environment
from keyark.events import Events


def start(ctx: click.Context) -> tuple[Output, ops.OperationContext]:
    """The verb's :class:`Output` and an :class:`~keyark.ops.OperationContext` whose
    events it renders (``out.settings`` holds the global options)."""
    out = Output(settings_of(ctx))
    return out, out.settings.operation_context(out.event)


def start_without_repository(ctx: click.Context) -> tuple[Output, ops.OperationContext]:
    """Like :func:`start`, for a verb that opens no repository of the global options
    (what it works on is named by its own options: a config file, an archive, an
    enrolled agent's files)."""
    out = Output(settings_of(ctx))
    return out, context_without_repository(out)


def context_without_repository(out: Output) -> ops.OperationContext:
    """A context naming no repository, whose events ``out`` renders."""
    return ops.OperationContext(events=Events("", out.event, results=out.json), cancel=CANCEL.token)


def jobs_context(out: Output) -> ops.OperationContext:
    """The context of a verb running the config file's jobs (each names its repository):
    the cache directory and lock wait of the global options, events rendered by ``out``."""
    cache = environment.cache_dir(out.settings)
    return ops.OperationContext(
        cache_dir=Path(cache) if cache else None,
        events=Events("", out.event, results=out.json),
        cancel=CANCEL.token,
        lock_wait=out.settings.retry_lock_seconds(),
    )


__all__ = ["context_without_repository", "jobs_context", "start", "start_without_repository"]
