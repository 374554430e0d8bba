"""``keyark check``: verify the repository."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.render import Output, human_size
from keyark.cli.verb import start
from keyark.cli.wording import counted
from keyark.errors import IntegrityError, UsageError


@click.command("check")
@click.option("--read-data", is_flag=True, help="Decrypt and verify every blob.")
@click.option("--read-data-subset", metavar="N%|n/t", help="Verify a subset of the packs.")
@click.pass_context
def command(ctx: click.Context, read_data: bool, read_data_subset: str | None) -> None:
    """Check the repository's structure, and with --read-data its data."""
    if read_data and read_data_subset:
        raise UsageError("--read-data and --read-data-subset cannot be used together")
    out, context = start(ctx)
    with out.progress("check", unit="packs"):
        summary = ops.check(context, ops.CheckOptions(read_data, read_data_subset))
    out.show(summary, _checked)
    if not summary.ok:
        errors = sum(1 for p in summary.problems if not p.harmless)
        raise IntegrityError(f"check found {counted(errors, 'problem')}; see above")


def _checked(out: Output, summary: ops.CheckSummary) -> None:
    """What was checked, each problem, and what to do about damaged packs."""
    out.print(
        f"checked {counted(summary.snapshots, 'snapshot')}, "
        f"{counted(summary.trees, 'tree')}, "
        f"{counted(summary.blobs, 'blob')} in {counted(summary.packs, 'pack')}"
        + (
            f"; read {counted(summary.packs_read, 'pack')} ({human_size(summary.bytes_read)})"
            if summary.packs_read
            else ""
        )
    )
    for problem in summary.problems:
        named = f"{problem.kind} {problem.object}" if problem.object else problem.kind
        line = f"{'note' if problem.harmless else 'error'}: {named}: "
        line += problem.message
        if problem.snapshots:
            line += f"; affects snapshots {', '.join(problem.snapshots)}"
        if problem.files:
            shown = problem.files[:10]
            line += f"; files {', '.join(shown)}" + (" ..." if len(problem.files) > 10 else "")
        out.print(line)
    damaged = summary.damaged_packs
    if damaged:
        out.print(
            "damaged packs: this client's next backup stores their damaged blobs again; "
            "'keyark repair packs "
            + " ".join(damaged)
            + "' salvages their readable blobs and removes them from the index for "
            "every client, and 'keyark repair snapshots' marks what stays lost"
        )
    if summary.ok:
        out.print("no errors were found")
