"""``keyark metrics``: the Prometheus metrics of the config file's jobs and repositories,
printed, or written as ``keyark.prom`` for node_exporter's textfile collector (cron)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from keyark.cli.config_option import config_option, load_config
from keyark.cli.invocation import CANCEL
from keyark.cli.settings import settings_of
from keyark.errors import UsageError


@click.command("metrics")
@click.option(
    "--textfile",
    "textfile",
    metavar="DIR",
    is_flag=False,
    flag_value="",
    default=None,
    help="Write DIR/keyark.prom atomically for node_exporter's textfile collector "
    "(DIR defaults to metrics.textfile_dir of the config file).",
)
@config_option
@click.pass_context
def command(ctx: click.Context, textfile: str | None) -> None:
    """Print the Prometheus metrics of the config's jobs and repositories, or write them."""
    from keyark import ops
    from keyark.cli.render import Output
    from keyark.config import environment
    from keyark.events import Events

    out = Output(settings_of(ctx))
    config = load_config(ctx)
    directory: Path | None = None
    if textfile is not None:
        chosen = textfile or config.metrics.textfile_dir
        if not chosen:
            raise UsageError(
                "--textfile needs a directory (or metrics.textfile_dir in the config file)"
            )
        directory = Path(chosen)
    cache = environment.cache_dir(out.settings)
    context = ops.OperationContext(
        cache_dir=Path(cache) if cache else None,
        events=Events("", out.event),
        cancel=CANCEL.token,
    )
    result = ops.metrics(context, ops.MetricsOptions(config, textfile_dir=directory))
    if out.json:
        out.emit_json(result.to_dict())
    elif result.path is not None:
        out.print(f"wrote {result.path}")
    else:
        sys.stdout.write(result.text)
