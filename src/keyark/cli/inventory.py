"""``keyark inventory``: the key material of a snapshot; ``diff`` and ``build``.

``keyark inventory [SNAPSHOT]`` lists; ``inventory diff A B`` and ``inventory build
SNAPSHOT...`` are subcommands. A first word that is not a subcommand goes to the
listing (``show``), so a snapshot id is never taken for one; ``inventory show
SNAPSHOT`` says it explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import click

from keyark import ops
from keyark.cli.default_command import DefaultCommandGroup
from keyark.cli.render import Output, printable, snapshot_label
from keyark.cli.snapshot_filter import filter_options
from keyark.cli.verb import start
from keyark.cli.wording import counted

_HEADERS = ["Kind", "Path", "Subject or name", "Algorithm", "Expires", "Flags"]


@click.group("inventory", cls=DefaultCommandGroup, default="show", bare=True)
def command() -> None:
    """List the key material of a snapshot: certificates, keys, what expires, what is weak.

    'keyark inventory [SNAPSHOT]' lists (see 'keyark inventory show --help');
    'inventory diff A B' compares two snapshots; 'inventory build SNAPSHOT...'
    computes the inventory of snapshots saved without one.
    """


def _one(values: Sequence[str]) -> str | None:
    if len(values) > 1:
        raise click.UsageError("give --host once")
    return values[0] if values else None


def _expires(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M")


def _row(finding: ops.Finding) -> list[Any]:
    label = finding.subject or finding.name or ""
    if finding.count is not None and not label:
        label = counted(finding.count, "entry", "entries")
    if finding.names:
        label = ", ".join(finding.names)
    algorithm = finding.algorithm or ""
    if finding.size and algorithm and str(finding.size) not in algorithm:
        algorithm = f"{algorithm} {finding.size}"
    return [
        finding.kind,
        printable(finding.path),
        label,
        algorithm,
        _expires(finding.not_after),
        ",".join(finding.flags),
    ]


def _table(out: Output, findings: Sequence[ops.Finding]) -> None:
    out.table(_HEADERS, [_row(f) for f in findings])


@command.command("show")
@click.argument("snapshot", default="latest")
@filter_options
@click.option(
    "--expiring",
    metavar="DURATION",
    help="Only what expires within DURATION (e.g. 30d, 12h), or has expired.",
)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    metavar="KIND",
    help="Only this kind: cert, key, pubkey, ssh, p12, gpg, env, or a kind's full name.",
)
@click.option(
    "--weak", is_flag=True, help="Only weak algorithms and secrets readable by group or others."
)
@click.pass_context
def show(
    ctx: click.Context,
    snapshot: str,
    selection: ops.SnapshotFilter,
    expiring: str | None,
    kinds: tuple[str, ...],
    weak: bool,
) -> None:
    """List the key material SNAPSHOT holds (default: the latest).

    One line per certificate, key or key file: kind, path, subject or name,
    algorithm, expiry and flags. --json gives every recorded fact.
    """
    out, context = start(ctx)
    options = ops.InventoryOptions(
        snapshot=snapshot,
        host=_one(selection.hosts),
        tags=list(selection.tags),
        paths=list(selection.paths),
        kinds=list(kinds),
        expiring=expiring,
        weak=weak,
    )
    result = ops.inventory(context, options)
    out.show(result, _findings)


def _findings(out: Output, result: ops.InventoryResult) -> None:
    """The findings table, or how to build a missing inventory."""
    if not result.built:
        out.print(
            f"snapshot {result.snapshot_id[:8]} has no inventory; "
            f"build it with 'keyark inventory build {result.snapshot_id[:8]}'"
        )
        return
    _table(out, result.findings)
    out.print(f"{counted(len(result.findings), 'finding')} in snapshot {result.snapshot_id[:8]}")


@command.command("diff")
@click.argument("first")
@click.argument("second")
@filter_options
@click.pass_context
def diff(
    ctx: click.Context,
    first: str,
    second: str,
    selection: ops.SnapshotFilter,
) -> None:
    """Show what key material changed from snapshot FIRST to SECOND.

    Added, removed, replaced (same path, new key or certificate), renewed
    (same subject, later expiry) and keys whose protection changed.
    """
    out, context = start(ctx)
    options = ops.InventoryDiffOptions(
        first, second, _one(selection.hosts), list(selection.tags), list(selection.paths)
    )
    result = ops.inventory_diff(context, options)
    out.show(result, _changes)


def _changes(out: Output, result: ops.InventoryDiffResult) -> None:
    """One line per change of key material, then the counts."""
    out.print(
        f"comparing the inventory of snapshot {snapshot_label(result.first)} "
        f"to {snapshot_label(result.second)}:"
    )
    changes = result.changes
    for finding in changes.added:
        out.result(f"+  {finding.kind} {printable(finding.path)} {_label(finding)}")
    for finding in changes.removed:
        out.result(f"-  {finding.kind} {printable(finding.path)} {_label(finding)}")
    for change in changes.replaced:
        assert change.new is not None
        out.result(f"R  {change.new.kind} {printable(change.new.path)} (new fingerprint)")
    for change in changes.renewed:
        assert change.old is not None and change.new is not None
        out.result(
            f"N  {printable(change.new.path)} {_label(change.new)}: expires "
            f"{_expires(change.new.not_after)} (was {_expires(change.old.not_after)})"
        )
    for change in changes.protection_changed:
        assert change.old is not None and change.new is not None
        out.result(
            f"P  {change.new.kind} {printable(change.new.path)}: {_protection(change.old)} "
            f"-> {_protection(change.new)}"
        )
    out.result(
        f"added {len(changes.added)}, removed {len(changes.removed)}, "
        f"replaced {len(changes.replaced)}, renewed {len(changes.renewed)}, "
        f"protection changed {len(changes.protection_changed)}"
    )


def _label(finding: ops.Finding) -> str:
    return finding.subject or finding.name or ""


def _protection(finding: ops.Finding) -> str:
    state = {True: "encrypted", False: "unencrypted", None: "unknown"}[finding.encrypted]
    mode = "" if finding.mode is None else f", mode {finding.mode:04o}"
    return state + mode


@command.command("build")
@click.argument("snapshots", nargs=-1, required=True)
@click.pass_context
def build(ctx: click.Context, snapshots: tuple[str, ...]) -> None:
    """Compute and store the inventory of SNAPSHOT... saved without one.

    Reads the snapshots' key files from the repository (the full key is needed).
    """
    out, context = start(ctx)
    with out.progress("inventory", unit="snapshots"):
        result = ops.inventory_build(context, ops.InventoryBuildOptions(list(snapshots)))
    out.show(result, _built)


def _built(out: Output, result: ops.InventoryBuildResult) -> None:
    """The snapshots whose inventory was built, with its size."""
    for snapshot_id, count in result.built.items():
        if count is not None:
            out.print(f"snapshot {snapshot_id[:8]}: inventory of {counted(count, 'finding')}")
