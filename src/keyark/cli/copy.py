"""``keyark copy``: copy snapshots from another repository into this one."""

from __future__ import annotations

import click

from keyark import keys, ops
from keyark.cli.render import Output, human_size
from keyark.cli.settings import global_options, settings_of
from keyark.config.environment import source_passphrase_sources
from keyark.config.secrets import resolve_secret
from keyark.crypto.slots import Credentials
from keyark.replication import choose_snapshots, copy_snapshots


def source_credentials(password_file: str | None, key_file: str | None) -> Credentials:
    """The source repository's key: ``KEYARK_FROM_PASSWORD``, a file, or a key file."""
    if key_file:
        return keys.credentials(key_file=key_file)
    secret = resolve_secret(
        source_passphrase_sources(password_file),
        missing="no key for the source repository: set KEYARK_FROM_PASSWORD, "
        "--from-password-file or --from-key-file",
    )
    return Credentials(passphrase=secret.get_secret_value())


@click.command("copy")
@click.argument("refs", nargs=-1, metavar="[SNAPSHOT]...")
@click.option("--from-repo", required=True, metavar="URL", help="Source repository.")
@click.option("--from-password-file", metavar="FILE", help="Source passphrase file.")
@click.option("--from-key-file", metavar="FILE", help="Source key file.")
@click.option("--all", "all_", is_flag=True, help="Copy every snapshot of the source.")
@click.option(
    "--allow-unsigned",
    is_flag=True,
    help="Also copy flagged snapshots (they stay flagged in the target).",
)
@global_options
@click.pass_context
def command(
    ctx: click.Context,
    refs: tuple[str, ...],
    from_repo: str,
    from_password_file: str | None,
    from_key_file: str | None,
    all_: bool,
    allow_unsigned: bool,
) -> None:
    """Copy snapshots from --from-repo into the repository, re-encrypted under its keys.

    Copies keep their provenance (agent name and trust); flagged snapshots are refused
    unless --allow-unsigned.
    """
    settings = settings_of(ctx)
    out = Output(settings)
    context = settings.context(out.warn)
    source = ops.open_repository(
        from_repo,
        source_credentials(from_password_file, from_key_file),
        settings.backend_options(from_repo),
    )
    try:
        target = settings.open_repository()
        try:
            chosen = choose_snapshots(ops.snapshots(source, ctx=context), refs, all_, out.warn)
            summary = copy_snapshots(
                source,
                target,
                chosen,
                ops.snapshots(target, ctx=context),
                retry_lock=settings.retry_lock_seconds(),
                warn=out.warn,
                allow_unsigned=allow_unsigned,
            )
            ops.snapshots(target, ctx=context)  # bring the catalog up to date
        finally:
            target.close()
    finally:
        source.close()
    if out.json:
        out.emit_json(summary.to_dict())
        return
    out.print(
        f"copied {len(summary.copied)} snapshots ({summary.files} files, "
        f"read {human_size(summary.bytes_read)}, added {human_size(summary.bytes_added)}); "
        f"{len(summary.skipped)} already present, in {summary.duration_seconds:.2f}s"
    )
