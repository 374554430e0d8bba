"""``keyark copy``: copy snapshots from another repository into this one."""

from __future__ import annotations

from dataclasses import replace

import click

from keyark import ops
from keyark.cli.render import Output, human_size
from keyark.cli.settings import Settings, settings_of
from keyark.cli.wording import counted
from keyark.config import CredentialSpec, RepositoryConfig, SecretRef, environment, resolve_secret

NO_SOURCE_KEY = (
    "no key for the source repository: set KEYARK_FROM_PASSWORD, "
    "--from-password-file, --from-password-command or --from-key-file"
)


def source_config(
    settings: Settings, url: str, password_file: str | None, key_file: str | None
) -> RepositoryConfig:
    """The source repository: the backend flags for ``url``, and its key
    (``--from-key-file``, else ``--from-password-file`` / ``KEYARK_FROM_PASSWORD(_FILE)``)."""
    flags = replace(settings, repo=url)
    if key_file:
        credentials = CredentialSpec(key_file=key_file)
    else:
        secret = resolve_secret(
            environment.source_passphrase_sources(
                password_file, command=settings.from_password_command
            ),
            missing=NO_SOURCE_KEY,
        )
        credentials = CredentialSpec(passphrase=[SecretRef(value=secret)])
    return RepositoryConfig(
        repository=environment.repository_spec(flags),
        credentials=credentials,
        cache_dir=environment.cache_dir(flags),
    )


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
    source = source_config(settings, from_repo, from_password_file, from_key_file)
    context = settings.operation_context(out.event)
    options = ops.CopyOptions(source, list(refs), all_, allow_unsigned)
    with out.progress("copy"):
        summary = ops.copy(context, options)
    out.outcome(
        summary,
        f"copied {counted(len(summary.copied), 'snapshot')} ({counted(summary.files, 'file')}, "
        f"read {human_size(summary.bytes_read)}, added {human_size(summary.bytes_added)}); "
        f"{len(summary.skipped)} already present, in {summary.duration_seconds:.2f}s",
    )
