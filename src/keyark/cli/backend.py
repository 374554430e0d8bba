"""``keyark backend check URL``: run the storage contract against your own storage."""

from __future__ import annotations

import click

from keyark import ops
from keyark.cli.render import Output
from keyark.cli.settings import settings_of
from keyark.errors import PermanentBackendError


@click.group("backend")
def command() -> None:
    """Storage backends: check that a storage location behaves as keyark needs."""


@command.command("check")
@click.argument("url", required=False)
@click.option(
    "--many",
    type=click.IntRange(min=1),
    default=1200,
    show_default=True,
    help="Objects written for the listing check (over 1000 exercises paging).",
)
@click.option(
    "--large-mib",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Size of the large-object check, MiB.",
)
@click.option(
    "--only", "only", multiple=True, metavar="CHECK", help="Run only this check (repeatable)."
)
@click.pass_context
def check(
    ctx: click.Context, url: str | None, many: int, large_mib: int, only: tuple[str, ...]
) -> None:
    """Run the backend contract at URL (default: the repository) in a scratch prefix.

    Only objects under a fresh keyark-contract-<random>/ prefix are written and
    removed, so URL may hold a repository. No passphrase is needed.
    """
    out = Output(settings_of(ctx))
    context = out.settings.operation_context(out.event, repository=url or None)
    with out.progress("backend check", unit="checks"):
        report = ops.backend_check(context, ops.BackendCheckOptions(many, large_mib, list(only)))
    out.show(report, _contract)
    if not report.ok:
        failed = [result.name for result in report.results if not result.ok]
        raise PermanentBackendError(
            f"backend {report.location} failed {len(failed)} check(s): {', '.join(failed)}"
        )


def _contract(out: Output, report: ops.BackendCheckReport) -> None:
    """The table of checks, then how many passed."""
    rows = [
        (
            result.name,
            "ok" if result.ok else "FAILED",
            f"{result.seconds:.2f}s",
            "" if result.ok else (result.detail.splitlines() or [""])[0][:200],
        )
        for result in report.results
    ]
    out.table(("check", "result", "time", "detail"), rows, title=report.location)
    passed = sum(1 for result in report.results if result.ok)
    out.print(
        f"{passed} of {len(report.results)} checks passed at {report.location} "
        f"in {report.duration_seconds:.1f}s"
    )
