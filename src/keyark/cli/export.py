"""``keyark export``: a snapshot as a verified archive; ``export verify``; ``export key``.

``keyark export SNAPSHOT[:DIR] --output FILE`` writes the archive (a first word that is
not a subcommand is the SNAPSHOT, so a snapshot id is never taken for one);
``export verify FILE`` checks one against its manifests and signature with no
repository; ``export key`` prints the public key a receiver pins.
"""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.default_command import DefaultCommandGroup
from keyark.cli.render import Output
from keyark.cli.snapshot_filter import filter_options, snapshot_and_directory
from keyark.cli.verb import start, start_without_repository
from keyark.cli.wording import counted


@click.group("export", cls=DefaultCommandGroup, default="create")
def command() -> None:
    """Export SNAPSHOT[:DIR] as a verified archive, verify one, or show the signing key.

    'keyark export SNAPSHOT[:DIR] --output FILE' writes the archive with checksum
    manifests (see 'keyark export create --help'); 'export verify FILE' checks an
    archive against them and its signature; 'export key' prints the public key a
    receiver pins to verify signed exports.
    """


def _checksums(value: str) -> list[str]:
    return [part for part in value.split(",") if part.strip()]


@command.command("create")
@click.argument("snapshot")
@click.option(
    "-o", "--output", required=True, metavar="FILE", help="The archive file to write (mode 0600)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(ops.EXPORT_ARCHIVE_FORMATS),
    default="tar.gz",
    show_default=True,
    help="Archive format.",
)
@click.option(
    "--checksums",
    default="sha256",
    show_default=True,
    metavar="LIST",
    help="Manifests beside the archive, comma-separated: sha256 (always), sha1, md5.",
)
@click.option("--sign", is_flag=True, help="Sign the export by the repository (FILE.sig).")
@click.option(
    "--recipient",
    metavar="AGE1...",
    help="Encrypt the archive and its manifests to this age recipient.",
)
@click.option(
    "--allow-unsigned", is_flag=True, help="Export a flagged snapshot (unsigned, foreign host)."
)
@filter_options
@click.pass_context
def create(
    ctx: click.Context,
    snapshot: str,
    output: str,
    fmt: str,
    checksums: str,
    sign: bool,
    recipient: str | None,
    allow_unsigned: bool,
    selection: ops.SnapshotFilter,
) -> None:
    """Write SNAPSHOT (or directory DIR of it, names relative to DIR) to --output as an
    archive, with FILE.SHA256SUMS (and SHA1SUMS, MD5SUMS on request) beside it.

    --sign adds FILE.sig, a detached Ed25519 signature by the repository; the receiver
    checks it with 'keyark export verify FILE --public-key KEY', KEY being what 'keyark
    export key' prints here. --recipient encrypts the archive and manifests with age.
    'latest' picks the newest trusted snapshot (--host/--tag/--path narrow it).
    """
    out, context = start(ctx)
    ref, base = snapshot_and_directory(snapshot)
    options = ops.ExportOptions(
        snapshot=ref,
        output=output,
        base=base,
        format=fmt,
        checksums=_checksums(checksums),
        sign=sign,
        recipient=recipient,
        allow_unsigned=allow_unsigned,
        selection=selection,
    )
    result = ops.export(context, options)
    out.show(result, _exported)


def _exported(out: Output, result: ops.ExportResult) -> None:
    """The archive written, its manifests and its signature."""
    out.print(
        f"exported {counted(result.members, 'file')} of snapshot {result.snapshot_id[:8]} "
        f"to {result.output} ({result.format}{', age-encrypted' if result.encrypted else ''})"
    )
    for manifest in result.manifests:
        out.print(f"manifest {manifest}")
    if result.signature is not None:
        out.print(f"signature {result.signature} by {result.public_key}")


@command.command("verify")
@click.argument("archive")
@click.option(
    "--public-key",
    metavar="KEY",
    help="The sender's export key (ed25519:..., from 'keyark export key'): pinned.",
)
@click.option(
    "--identity-file",
    metavar="FILE",
    help="The age identity an encrypted export is decrypted with to check its members.",
)
@click.pass_context
def verify(
    ctx: click.Context, archive: str, public_key: str | None, identity_file: str | None
) -> None:
    """Check ARCHIVE against its manifests and signature; no repository is needed.

    Exits 1 naming the first mismatch: a signature that does not verify or is not by the
    pinned key, a changed manifest, a member whose checksum differs, a member missing
    or unlisted, an archive that is not the signed one.
    """
    out, context = start_without_repository(ctx)
    options = ops.ExportVerifyOptions(archive, public_key=public_key, identity_file=identity_file)
    result = ops.export_verify(context, options)
    out.show(result, _verified)


def _verified(out: Output, result: ops.ExportVerifyResult) -> None:
    """What matched and who signed the archive."""
    checked = (
        f"{counted(result.members, 'member')} match {', '.join(result.manifests)}"
        if result.members_checked
        else "members not checked (encrypted)"
    )
    if result.signed:
        by = "the pinned key" if result.pinned else f"{result.signer} (not pinned)"
        out.print(f"{result.archive}: {checked}; signature by {by} verified")
    else:
        out.print(f"{result.archive}: {checked}; not signed")


@command.command("key")
@click.pass_context
def key(ctx: click.Context) -> None:
    """Print the public key that verifies this repository's signed exports (to pin it)."""
    out, context = start(ctx)
    result = ops.export_key(context, ops.ExportKeyOptions())
    out.show(result, _public_key)


def _public_key(out: Output, result: ops.ExportKey) -> None:
    """The public key alone (what a receiver pins)."""
    out.result(result.public_key)
