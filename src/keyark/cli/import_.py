"""``keyark import``: store existing archives (tar, zip, the seed's openssl ones) as snapshots."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.render import Output
from keyark.cli.verb import start
from keyark.cli.wording import counted


@click.command("import")
@click.argument("archives", nargs=-1, required=True, metavar="ARCHIVE...")
@click.option("--host", metavar="HOST", help="Record the snapshots for HOST (default: this one).")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Add TAG (besides 'imported').")
@click.option(
    "--time-from-name",
    is_flag=True,
    help="Take each snapshot's time from YYYYMMDD_HHMMSS in the archive's name (local time).",
)
@click.option(
    "--openssl-key-file",
    metavar="FILE",
    help="The key file of 'openssl enc -aes-256-cbc' archives (as backup_master.key).",
)
@click.option(
    "--openssl-kdf",
    type=click.Choice(ops.OPENSSL_KDFS),
    help="Force the openssl key derivation (default: find out from the content).",
)
@click.pass_context
def command(
    ctx: click.Context,
    archives: tuple[str, ...],
    host: str | None,
    tags: tuple[str, ...],
    time_from_name: bool,
    openssl_key_file: str | None,
    openssl_kdf: str | None,
) -> None:
    """Store existing archives as snapshots, one each: tar, tar.gz, tar.zst, zip, and
    'openssl enc -aes-256-cbc' archives (with --openssl-key-file).

    Each archive's .sha256 file beside it is checked when present. Every archive is
    checked whole before any is stored: a member with an absolute path, '..', a link
    out of the tree or a device file refuses it and nothing is stored.
    """
    out, context = start(ctx)
    options = ops.ImportOptions(
        archives=list(archives),
        host=host,
        tags=list(tags),
        time_from_name=time_from_name,
        openssl_key_file=openssl_key_file,
        openssl_kdf=openssl_kdf,
    )
    result = ops.import_(context, options)
    out.show(result, _imported)


def _imported(out: Output, result: ops.ImportResult) -> None:
    """One line per archive: the snapshot it became."""
    for item in result.imported:
        checked = f", checked against {item.checksum_file}" if item.checksum_file else ""
        done = "was imported before" if item.already_imported else "imported"
        out.print(
            f"{item.archive} {done} as snapshot {item.snapshot_id[:8]} "
            f"({counted(item.files, 'file')}, {item.time}{checked})"
        )
