"""``keyark init``: create a repository."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.render import Output
from keyark.cli.settings import global_options, settings_of
from keyark.crypto import kdf


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
@global_options
@click.pass_context
def command(
    ctx: click.Context, kdf_name: str, pack_size: int, s3_object_lock_days: int | None
) -> None:
    """Create a new repository (and its bucket or container when missing)."""
    settings = settings_of(ctx)
    options = settings.backend_options()
    if s3_object_lock_days:
        options = options.with_settings({"s3_object_lock_days": s3_object_lock_days})
    out = Output(settings)
    url = settings.repository_url()
    passphrase = settings.passphrase(confirm=True, purpose="the new repository")
    name = kdf.PBKDF2_SHA256 if kdf_name == "pbkdf2" else kdf.ARGON2ID
    repo = ops.init_repository(
        url,
        passphrase,
        kdf=name,
        pack_size_mib=pack_size,
        backend_options=options,
    )
    try:
        if out.json:
            out.emit_json({"message_type": "initialized", "id": repo.repo_id, "repository": url})
        else:
            out.print(f"created keyark repository {repo.repo_id[:10]} at {url}")
            out.print(
                "Keep the passphrase safe: without it (or another key slot) the data is lost."
            )
    finally:
        repo.close()
