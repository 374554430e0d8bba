"""``keyark mount``: the repository's snapshots as a read-only filesystem (FUSE)."""

from __future__ import annotations

import sys

import click

from keyark import ops
from keyark.cli.render import Output
from keyark.cli.settings import settings_of
from keyark.cli.snapshot_filter import filter_options
from keyark.events import Event, Progress


@click.command("mount")
@click.argument("mountpoint", type=click.Path(file_okay=False, readable=False))
@click.option(
    "--cache-size",
    default="64MiB",
    show_default=True,
    metavar="SIZE",
    help="Decrypted file content kept in memory (e.g. 256MiB; 0 keeps none).",
)
@click.option(
    "--allow-other",
    is_flag=True,
    help="Let other users enter the mount (the kernel checks the files' permissions).",
)
@click.option("--allow-unsigned", is_flag=True, help="Show flagged snapshots too.")
@filter_options
@click.pass_context
def command(
    ctx: click.Context,
    mountpoint: str,
    cache_size: str,
    allow_other: bool,
    allow_unsigned: bool,
    selection: ops.SnapshotFilter,
) -> None:
    """Mount the snapshots read-only at MOUNTPOINT (FUSE) until Ctrl-C or an unmount.

    MOUNTPOINT must be an existing, empty directory. It shows snapshots/TIME/,
    hosts/HOST/TIME/, tags/TAG/TIME/ and ids/ID/, with a 'latest' link in each
    listing; files are read from the repository as they are read. Runs in the
    foreground: Ctrl-C (SIGINT), SIGTERM or 'fusermount3 -u MOUNTPOINT' unmounts it
    and the command exits 0. --host/--tag/--path narrow the snapshots shown.
    """
    out = Output(settings_of(ctx))

    def render(event: Event) -> None:
        if isinstance(event, Progress) and event.phase == "mounted" and not out.json:
            out.print(f"mounted at {event.current}; Ctrl-C to unmount")
            sys.stdout.flush()
            return
        out.event(event)

    context = out.settings.operation_context(render)
    options = ops.MountOptions(
        mountpoint=mountpoint,
        selection=selection,
        cache_size=ops.parse_size(cache_size, "--cache-size"),
        allow_other=allow_other,
        allow_unsigned=allow_unsigned,
    )
    result = ops.mount(context, options)
    out.outcome(result, f"unmounted {result.mountpoint}")
