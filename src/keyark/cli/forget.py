"""``keyark forget``: remove snapshots by id or by retention policy."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.prune import prune_options, render_prune, unused_option
from keyark.cli.render import Output, local_time
from keyark.cli.settings import settings_of
from keyark.cli.snapshot_filter import filter_options
from keyark.cli.wording import counted
from keyark.errors import Hint, UsageError

PERIODS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")


def parse_count(option: str, text: str | None) -> int:
    """A ``--keep-*`` count: N >= 0, or ``-1``/``unlimited``."""
    if text is None:
        return 0
    spec = text.strip().lower()
    if spec == "unlimited":
        return ops.UNLIMITED
    try:
        value = int(spec)
    except ValueError:
        raise UsageError(f"{option} {text!r}: use a whole number or 'unlimited'") from None
    if value < ops.UNLIMITED:
        raise UsageError(f"{option} {text!r}: a count must be 0 or more (or -1/unlimited)")
    return value


def _rows(decisions: list[ops.Decision], tty: bool) -> list[tuple[str, ...]]:
    return [
        (
            d.snapshot.short_id,
            local_time(d.snapshot.time),
            d.snapshot.host,
            ",".join(d.snapshot.tags),
            ("\n" if tty else "; ").join(d.reasons),
            ("\n" if tty else ",").join(d.snapshot.paths),
        )
        for d in decisions
    ]


def render(out: Output, result: ops.ForgetResult, policy: ops.RetentionPolicy) -> None:
    """Per group: kept snapshots with their reasons, then removed ones."""
    if not policy.is_empty():
        out.print(f"Applying policy: {policy.describe()}")
    columns = ["ID", "Time", "Host", "Tags", "Reasons", "Paths"]
    for group in result.groups:
        if group.key:
            label = ", ".join(
                f"{name} [{value if isinstance(value, str) else ','.join(value)}]"
                for name, value in group.key.items()
            )
            out.print(f"snapshots for {label}:")
        kept = [d for d in group.decisions if d.keep]
        removed = [d for d in group.decisions if not d.keep]
        if kept:
            out.print(f"keep {counted(len(kept), 'snapshot')}:")
            out.table(columns, _rows(kept, out.tty))
        if removed:
            out.print(f"remove {counted(len(removed), 'snapshot')}:")
            out.table(columns[:4] + columns[5:], [r[:4] + r[5:] for r in _rows(removed, out.tty)])
        out.print()
    doomed = sum(len(g.removed) for g in result.groups)
    if result.dry_run:
        out.print(f"dry run: would remove {counted(doomed, 'snapshot')}; nothing was changed")
    else:
        out.print(f"removed {counted(len(result.removed), 'snapshot')}")


@click.command("forget")
@click.argument("snapshot_ids", nargs=-1)
@click.option("-l", "--keep-last", metavar="N", help="Keep the N newest snapshots.")
@click.option("-H", "--keep-hourly", metavar="N", help="Keep the newest of N hours.")
@click.option("-d", "--keep-daily", metavar="N", help="Keep the newest of N days.")
@click.option("-w", "--keep-weekly", metavar="N", help="Keep the newest of N weeks.")
@click.option("-m", "--keep-monthly", metavar="N", help="Keep the newest of N months.")
@click.option("-y", "--keep-yearly", metavar="N", help="Keep the newest of N years.")
@click.option("--keep-within", metavar="DURATION", help="Keep all within DURATION (e.g. 1y2m3d4h).")
@click.option(
    "--keep-tag", "keep_tags", multiple=True, metavar="TAG[,TAG]", help="Keep tagged snapshots."
)
@click.option(
    "--max-snapshots",
    type=click.IntRange(min=1),
    metavar="N",
    help="After the keep rules, keep at most the N newest snapshots of each group.",
)
@click.option(
    "-g",
    "--group-by",
    default="host,paths",
    show_default=True,
    metavar="FIELDS",
    help="Apply the policy per group of host, paths and/or tags ('' = one group).",
)
@filter_options
@click.option("-n", "--dry-run", is_flag=True, help="Show what would be removed; change nothing.")
@click.option("--prune", "then_prune", is_flag=True, help="Prune unused data afterwards.")
@unused_option
@click.pass_context
def command(
    ctx: click.Context,
    snapshot_ids: tuple[str, ...],
    keep_last: str | None,
    keep_hourly: str | None,
    keep_daily: str | None,
    keep_weekly: str | None,
    keep_monthly: str | None,
    keep_yearly: str | None,
    keep_within: str | None,
    keep_tags: tuple[str, ...],
    max_snapshots: int | None,
    group_by: str,
    selection: ops.SnapshotFilter,
    dry_run: bool,
    then_prune: bool,
    max_unused: str,
    max_repack_size: str | None,
) -> None:
    """Remove snapshots: the SNAPSHOT_IDS given, or those a --keep-* policy does not keep.

    Counts take a number or 'unlimited'. A snapshot kept by any rule is kept; the
    newest snapshot of each group always is. Without a policy nothing is removed.
    """
    settings = settings_of(ctx)
    out = Output(settings)
    counts = dict(
        zip(
            PERIODS,
            (keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly),
            strict=True,
        )
    )
    policy = ops.RetentionPolicy(
        **{name: parse_count(f"--keep-{name}", text) for name, text in counts.items()},
        within=(
            ops.parse_calendar_duration(keep_within, "--keep-within")
            if keep_within is not None
            else None
        ),
        tags=tuple(ops.parse_keep_tag(value, "--keep-tag") for value in keep_tags),
        max_snapshots=max_snapshots,
    )
    zeros = [f"--keep-{name} 0" for name, text in counts.items() if text is not None]
    if policy.is_empty() and zeros and not snapshot_ids:
        # restic 0.14 treats a count of 0 as no rule; say so rather than "no policy given".
        raise UsageError(
            f"{', '.join(zeros)} {'keeps' if len(zeros) == 1 else 'keep'} no snapshot (a count "
            "of 0 turns its rule off), so no "
            "retention policy is left and forget would remove every snapshot; nothing was "
            "removed",
            hint=Hint.RETENTION_POLICY,
        )
    options = ops.ForgetOptions(
        policy=policy,
        ids=snapshot_ids,
        selection=selection,
        group_by=ops.parse_group_by(group_by, "--group-by"),
        dry_run=dry_run,
        prune=then_prune,
        prune_options=prune_options(max_unused, max_repack_size, dry_run),
    )
    context = settings.operation_context(out.event)
    with out.progress("forget", unit="objects"):
        result = ops.forget(context, options)
    if out.json:
        out.emit_json(result.group_dicts())
        if result.prune is not None:
            out.emit_json(result.prune.to_dict())
            result.prune.raise_for_failures()
        return
    render(out, result, policy)
    if result.prune is not None:
        render_prune(out, result.prune)
        result.prune.raise_for_failures()
