"""``keyark key``: manage key slots (list, add, remove, passwd, split, recover).

The verbs parse options, resolve the secrets they need and render results; the
operations live in :mod:`keyark.ops.keys`.
"""

from __future__ import annotations

import sys

import click

from keyark import ops
from keyark.cli.render import Output, stored_time
from keyark.cli.settings import (
    Settings,
    new_passphrase,
    pkcs11_pin,
    settings_of,
)
from keyark.cli.verb import start
from keyark.cli.wording import counted
from keyark.config.secrets import NO_PASSPHRASE
from keyark.errors import UsageError

_KDF = click.Choice(["argon2id", "pbkdf2"])
_KDF_HELP = "Passphrase KDF (pbkdf2 = PBKDF2-HMAC-SHA256, 600,000 iterations)."
#: A message, not a secret.
_NO_NEW_PASSPHRASE = (
    "no new passphrase given: set KEYARK_NEW_PASSWORD or KEYARK_NEW_PASSWORD_FILE, "  # noqa: S105
    "or use --new-password-file (no terminal to prompt on)"
)
#: The columns of ``key list``.
KEY_COLUMNS = ("", "ID", "Kind", "Created", "Host", "User", "Label", "Details")


@click.group("key")
def command() -> None:
    """Manage the repository's key slots."""


@command.command("list")
@click.pass_context
def list_keys(ctx: click.Context) -> None:
    """List key slots (never secrets)."""
    out, context = start(ctx)
    found = ops.key_list(context, ops.KeyListOptions()).keys
    out.listing_of(found, KEY_COLUMNS, _key_row)


def _key_row(k: ops.KeyInfo) -> tuple[str, ...]:
    return (
        "*" if k.current else "",
        k.slot_id[:8],
        k.kind,
        stored_time(k.created),
        k.host,
        k.username,
        k.label,
        k.summary(),
    )


@command.command("add")
@click.option("--kdf", "kdf_name", type=_KDF, default=None, help=_KDF_HELP)
@click.option("--key-file", "new_key_file", metavar="PATH", help="Create a key file at PATH.")
@click.option("--pkcs11-module", "module", metavar="PATH", help="PKCS#11 module of the HSM.")
@click.option("--pkcs11-token", "token", metavar="LABEL", help="PKCS#11 token label.")
@click.option("--pkcs11-key", "key_label", metavar="LABEL", help="Label of the HSM key.")
@click.option(
    "--pkcs11-mechanism",
    "mechanism",
    type=click.Choice(list(ops.PKCS11_MECHANISMS)),
    help="Wrapping mechanism (default: by key type; rsa-oaep-sha1 for SoftHSM RSA keys).",
)
@click.option("--label", default="", help="A note shown by 'key list'.")
@click.pass_context
def add(
    ctx: click.Context,
    kdf_name: str | None,
    new_key_file: str | None,
    module: str | None,
    token: str | None,
    key_label: str | None,
    mechanism: str | None,
    label: str,
) -> None:
    """Add a key slot: a passphrase (default), a new key file, or an HSM key.

    The repository opens with the usual key source; give --key-file/--pkcs11-* for
    opening before the verb ('keyark --key-file OLD key add ...') or in the environment.
    """
    settings = settings_of(ctx)
    out = Output(settings)
    if new_key_file and module:
        raise UsageError("give either --key-file or --pkcs11-module, not both")
    if kdf_name and (new_key_file or module):
        raise UsageError("--kdf applies to passphrase slots only")
    if not module and (token or key_label or mechanism):
        raise UsageError("--pkcs11-token, --pkcs11-key and --pkcs11-mechanism need --pkcs11-module")
    if module and not (token and key_label):
        raise UsageError("a PKCS#11 slot needs --pkcs11-token LABEL and --pkcs11-key LABEL")
    pin = pkcs11_pin(token) if module else ""
    context = settings.operation_context(out.event)
    context.resolve_credentials()  # the current key first, then the new passphrase
    options = ops.KeyAddOptions(
        passphrase=None if module or new_key_file else _new_passphrase(out.settings),
        kdf=kdf_name,
        key_file=new_key_file,
        pkcs11_module=module,
        pkcs11_token=token,
        pkcs11_key=key_label,
        pkcs11_mechanism=mechanism,
        pkcs11_pin=pin,
        label=label,
    )
    added = ops.key_add(context, options)
    where = f" ({new_key_file})" if new_key_file else ""
    out.outcome(added, f"added {added.key.kind} key slot {added.key.slot_id[:8]}{where}")


@command.command("remove")
@click.argument("slot_id")
@click.option("--force", is_flag=True, help="Also remove the slot that opened the repository.")
@click.pass_context
def remove(ctx: click.Context, slot_id: str, force: bool) -> None:
    """Remove the key slot SLOT_ID (a unique prefix); never the last one."""
    out, context = start(ctx)
    removed = ops.key_remove(context, ops.KeyRemoveOptions(slot_id, force))
    out.outcome(removed, f"removed {removed.key.kind} key slot {removed.key.slot_id[:8]}")


@command.command("passwd")
@click.option(
    "--kdf", "kdf_name", type=_KDF, default=None, help=_KDF_HELP + " Default: the old slot's."
)
@click.option("--label", default=None, help="A note shown by 'key list' (default: the old one).")
@click.pass_context
def passwd(ctx: click.Context, kdf_name: str | None, label: str | None) -> None:
    """Change the passphrase (new one from KEYARK_NEW_PASSWORD or a prompt).

    The new slot keeps the old slot's KDF and label unless --kdf or --label is given.
    """
    out, context = start(ctx)
    context.resolve_credentials()  # the current key first, then the new passphrase
    options = ops.KeyPasswdOptions(_new_passphrase(out.settings), kdf_name, label)
    changed = ops.key_passwd(context, options)
    out.outcome(changed, f"passphrase changed (new key slot {changed.key.slot_id[:8]})")


@command.command("split")
@click.option("--shares", "count", type=int, required=True, help="Number of shares N.")
@click.option("--threshold", type=int, required=True, help="Shares M needed to recover.")
@click.option("--out-dir", metavar="DIR", help="Write share-I-of-N.txt files (0600) here.")
@click.option("--label", default="", help="A note shown by 'key list'.")
@click.pass_context
def split(ctx: click.Context, count: int, threshold: int, out_dir: str | None, label: str) -> None:
    """Add a recovery slot and split its secret into N SLIP-39 shares (any M recover)."""
    out, context = start(ctx)
    result = ops.key_split(context, ops.KeySplitOptions(count, threshold, out_dir, label))
    if out.json:
        document = result.to_dict()
        if not result.files:
            document["mnemonics"] = result.mnemonics  # the result, on stdout only
        out.emit_json(document)
        return
    summary = (
        f"added recovery key slot {result.key.slot_id[:8]}: {result.threshold} of "
        f"{len(result.mnemonics)} shares recover the key (split {result.identifier})"
    )
    if result.files:
        out.print(summary)
        for path in result.files:
            out.print(f"  {path}")
        out.print("Give each share to a different person or place; keep none together.")
        return
    # The shares are the result: printed even with --quiet.
    sys.stdout.write(summary + "\n")
    for number, mnemonic in enumerate(result.mnemonics, start=1):
        sys.stdout.write(f"\nshare {number} of {len(result.mnemonics)}:\n{mnemonic}\n")


@command.command("recover")
@click.option("--share-file", "share_files", multiple=True, metavar="FILE", help="A share file.")
@click.option("--kdf", "kdf_name", type=_KDF, default="argon2id", help=_KDF_HELP)
@click.option("--label", default="recovered", help="A note shown by 'key list'.")
@click.pass_context
def recover(ctx: click.Context, share_files: tuple[str, ...], kdf_name: str, label: str) -> None:
    """Open with M recovery shares and add a passphrase slot (KEYARK_NEW_PASSWORD or prompt)."""
    out, context = start(ctx)
    mnemonics = [ops.read_share_file(path) for path in share_files]
    if not mnemonics:
        mnemonics = _prompt_shares()
    ops.check_shares(mnemonics)  # report bad shares before asking for a passphrase
    options = ops.KeyRecoverOptions(mnemonics, _new_passphrase(out.settings), kdf_name, label)
    recovered = ops.key_recover(context, options)
    out.outcome(recovered, f"recovered: added passphrase key slot {recovered.key.slot_id[:8]}")


def _new_passphrase(settings: Settings) -> bytes:
    """The new passphrase; with no source and no terminal, name the new-passphrase variables."""
    try:
        return new_passphrase(settings)
    except UsageError as error:
        if str(error) != NO_PASSPHRASE:
            raise
        raise UsageError(_NO_NEW_PASSPHRASE) from None


def _prompt_shares() -> list[str]:
    """Ask for shares on the terminal until the threshold is reached (hidden input)."""
    if not sys.stdin.isatty():
        raise UsageError("no recovery shares given: use --share-file FILE (one per share)")
    import getpass

    collected: list[str] = []
    needed = 0
    while not needed or len(collected) < needed:
        text = ops.normalize_share(getpass.getpass(f"share {len(collected) + 1}: "))
        if not text:
            raise UsageError(f"recovery stopped with {counted(len(collected), 'share')}")
        try:
            threshold = ops.share_threshold(text, len(collected) + 1)
        except ops.RecoveryShareError as error:
            click.echo(f"{error}; type it again", err=True)
            continue
        needed = needed or threshold
        collected.append(text)
    return collected
