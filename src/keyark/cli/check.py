"""``keyark check``: verify the repository."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.render import human_size
from keyark.cli.settings import global_options
from keyark.cli.verb import start
from keyark.errors import IntegrityError


@click.command("check")
@click.option("--read-data", is_flag=True, help="Decrypt and verify every blob.")
@click.option("--read-data-subset", metavar="N%|n/t", help="Verify a subset of the packs.")
@global_options
@click.pass_context
def command(ctx: click.Context, read_data: bool, read_data_subset: str | None) -> None:
    """Check the repository's structure, and with --read-data its data."""
    out, context = start(ctx)
    with out.progress("check", unit="packs"):
        summary = ops.check(context, ops.CheckOptions(read_data, read_data_subset))
    if out.json:
        out.emit_json(summary.to_dict())
    else:
        out.print(
            f"checked {summary.snapshots} snapshots, {summary.trees} trees, "
            f"{summary.blobs} blobs in {summary.packs} packs"
            + (
                f"; read {summary.packs_read} packs ({human_size(summary.bytes_read)})"
                if summary.packs_read
                else ""
            )
        )
        for problem in summary.problems:
            line = f"{'note' if problem.harmless else 'error'}: {problem.kind} {problem.object}: "
            line += problem.message
            if problem.snapshots:
                line += f"; affects snapshots {', '.join(problem.snapshots)}"
            if problem.files:
                shown = problem.files[:10]
                line += f"; files {', '.join(shown)}" + (" ..." if len(problem.files) > 10 else "")
            out.print(line)
        if summary.ok:
            out.print("no errors were found")
    if not summary.ok:
        errors = sum(1 for p in summary.problems if not p.harmless)
        raise IntegrityError(f"check found {errors} problem(s); see above")
