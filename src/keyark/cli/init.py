"""``keyark init``: create a repository."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.render import Output
from keyark.cli.verb import start


@click.command("init")
@click.option(
    "--kdf",
    "kdf_name",
    type=click.Choice(["argon2id", "pbkdf2"]),
    default="argon2id",
    help="Passphrase KDF (pbkdf2 = PBKDF2-HMAC-SHA256, 600,000 iterations).",
)
@click.option("--pack-size", type=int, default=16, show_default=True, help="Target pack size, MiB.")
@click.option(
    "--s3-object-lock-days",
    type=click.IntRange(min=1),
    metavar="N",
    help="S3: create the bucket with Object Lock; every object is retained N days (WORM).",
)
@click.pass_context
def command(
    ctx: click.Context, kdf_name: str, pack_size: int, s3_object_lock_days: int | None
) -> None:
    """Create a new repository (and its bucket or container when missing)."""
    out, context = start(ctx)
    options = ops.InitOptions(
        passphrase=out.settings.passphrase(confirm=True, purpose="the new repository"),
        kdf=kdf_name,
        pack_size_mib=pack_size,
        s3_object_lock_days=s3_object_lock_days,
    )
    created = ops.init(context, options)
    out.show(created, _created)


def _created(out: Output, created: ops.Initialized) -> None:
    """Where the repository was created, and a word about the passphrase."""
    out.print(f"created keyark repository {created.id[:10]} at {created.repository}")
    out.print("Keep the passphrase safe: without it (or another key slot) the data is lost.")
