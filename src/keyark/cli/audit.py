"""``keyark audit``: read, verify and export the audit log (see docs/audit.md)."""

from __future__ import annotations

import sys
from datetime import datetime

import click

from keyark import ops
from keyark.cli.render import Output
from keyark.cli.verb import start
from keyark.cli.wording import counted
from keyark.errors import IntegrityError


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    from keyark.cli.history import parse_since

    return parse_since(text)


_SINCE = click.option(
    "--since",
    metavar="DURATION|DATE",
    help="Only records since then: a duration back from now (2h, 7d) or a date (2024-05-01).",
)
_ACTOR = click.option(
    "--actor", metavar="NAME", help="Only records of this user, host, API principal or job."
)
_OP = click.option("--op", "operation", metavar="OPERATION", help="Only this operation (backup).")


@click.group("audit")
def command() -> None:
    """Read, verify and export the audit log."""


@command.command("log")
@_SINCE
@_ACTOR
@_OP
@click.option("--last", type=int, metavar="N", help="Only the newest N records.")
@click.pass_context
def log(
    ctx: click.Context,
    since: str | None,
    actor: str | None,
    operation: str | None,
    last: int | None,
) -> None:
    """Show the audit log, oldest first."""
    out, context = start(ctx)
    options = ops.AuditLogOptions(_since(since), actor, operation, last)
    result = ops.audit_log(context, options)
    columns = ("Time (UTC)", "Actor", "Operation", "Result", "Target", "Record")
    out.listing_of(result.records, columns, _record_row, "no audit records")


def _record_row(record: ops.AuditRecord) -> list[str]:
    who = record.actor.get("principal") or record.actor.get("job") or record.actor.get("user")
    target = record.target.get("snapshot_id") or record.target.get("snapshot") or ""
    return [
        record.time[:19].replace("T", " "),
        f"{who}@{record.actor.get('host', '')}",
        record.operation,
        record.result if record.error_code is None else f"failure ({record.error_code})",
        str(target)[:8],
        record.ref,
    ]


@command.command("verify")
@click.option(
    "--no-restore", is_flag=True, help="Do not restore a lost local log from the repository."
)
@click.pass_context
def verify(ctx: click.Context, no_restore: bool) -> None:
    """Verify the audit log's chains, MACs and signed checkpoints (both copies)."""
    out, context = start(ctx)
    result = ops.audit_verify(context, ops.AuditVerifyOptions(restore_local=not no_restore))
    out.show(result, _verified)
    if not result.ok:
        raise IntegrityError(
            f"the audit log failed verification at record {result.first_bad} "
            f"({counted(len(result.problems), 'problem')})"
        )


def _verified(out: Output, result: ops.AuditVerifyResult) -> None:
    """Each problem, then what was verified and restored."""
    for problem in result.problems:
        out.print(f"error: record {problem.record}: {problem.kind}: {problem.message}")
    out.print(
        f"{counted(result.records, 'record')} of {counted(result.writers, 'writer')} verified, "
        f"{counted(result.checkpoints, 'signed checkpoint')}; "
        f"{result.unanchored} after the last checkpoints (not yet anchored)"
    )
    if result.restored:
        out.print(f"restored {counted(result.restored, 'record')} into the local log")


@command.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(ops.EXPORT_FORMATS)),
    default="jsonl",
    show_default=True,
    help="JSON lines or CSV.",
)
@_SINCE
@_ACTOR
@_OP
@click.pass_context
def export(
    ctx: click.Context, fmt: str, since: str | None, actor: str | None, operation: str | None
) -> None:
    """Write the audit log to standard output as JSON lines or CSV."""
    _out, context = start(ctx)
    options = ops.AuditExportOptions(fmt, _since(since), actor, operation)
    result = ops.audit_export(context, options)
    sys.stdout.write(result.text)
