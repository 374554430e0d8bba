"""The ``keyark`` command: a click group, its verbs, and the one error handler.

Start-up stays light: this module imports click and keyark's plumbing only. A verb's
module (and with it the operations, the config model, rich, cryptography, ...) is
imported when that verb runs; ``--help`` lists the verbs from :data:`SUMMARIES`.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import click

from keyark import __version__
from keyark.cancel import CancelToken
from keyark.cli.hints import cli_hint
from keyark.cli.invocation import CANCEL
from keyark.cli.options import attach_everywhere, global_options
from keyark.errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    CancelledError,
    Hint,
    KeyarkError,
    exit_code_for,
)
from keyark.process import EXIT_TERMINATED, prepare, terminate_gracefully, was_terminated
from keyark.redaction import RedactingFilter, redact

#: Verb -> module defining ``command``; imported only when the verb runs (fast start-up).
VERBS = {
    "init": "keyark.cli.init",
    "backup": "keyark.cli.backup",
    "snapshots": "keyark.cli.snapshots",
    "ls": "keyark.cli.ls",
    "browse": "keyark.cli.browse",
    "restore": "keyark.cli.restore",
    "rollback": "keyark.cli.rollback",
    "restore-points": "keyark.cli.restore_points",
    "dump": "keyark.cli.dump",
    "diff": "keyark.cli.diff",
    "find": "keyark.cli.find",
    "stats": "keyark.cli.stats",
    "check": "keyark.cli.check",
    "repair": "keyark.cli.repair",
    "key": "keyark.cli.key",
    "agent": "keyark.cli.agent",
    "copy": "keyark.cli.copy",
    "backend": "keyark.cli.backend",
    "forget": "keyark.cli.forget",
    "rewrite": "keyark.cli.rewrite",
    "tag": "keyark.cli.tag",
    "prune": "keyark.cli.prune",
    "unlock": "keyark.cli.unlock",
    "debug": "keyark.cli.debug",
    "catalog": "keyark.cli.catalog",
    "version": "keyark.cli.version",
    "generate": "keyark.cli.generate",
    "config": "keyark.cli.config",
    "daemon": "keyark.cli.daemon",
    "serve": "keyark.cli.serve",
    "schedule": "keyark.cli.schedule",
    "history": "keyark.cli.history",
    "audit": "keyark.cli.audit",
    "run": "keyark.cli.run",
    "inventory": "keyark.cli.inventory",
    "metrics": "keyark.cli.metrics",
    "monitor": "keyark.cli.monitor",
    "erase": "keyark.cli.erase",
    "compliance": "keyark.cli.compliance",
    "mount": "keyark.cli.mount",
    "export": "keyark.cli.export",
    "import": "keyark.cli.import_",
    "server": "keyark.cli.server",
    "drill": "keyark.cli.drill",
}
#: Verb -> its one-line help, so ``keyark --help`` imports no verb (a verb missing
#: here is imported for its help; tests/unit/test_cli_startup.py keeps both in step).
SUMMARIES: dict[str, str] = {
    "init": "Create a new repository (and its bucket or container when missing).",
    "backup": "Back up PATHS into the repository.",
    "snapshots": "List snapshots.",
    "ls": "List files in SNAPSHOT: all of them, or directory PATH and its direct children.",
    "browse": "Browse snapshots in the terminal and restore marked files (keyboard only).",
    "restore": "Restore SNAPSHOT (an id, id prefix or 'latest'; or use --at) into --target.",
    "rollback": "Undo a restore: put its target back as the restore point saved it.",
    "restore-points": "List or forget restore points (what restores saved before overwriting).",
    "dump": (
        "Write PATH of SNAPSHOT to standard output or --target: a file as it is, "
        "a directory as a tar (default) or zip archive named by snapshot paths."
    ),
    "diff": "Show changes from snapshot FIRST to snapshot SECOND.",
    "find": "Find entries whose name matches PATTERN (a glob; with '/', the full path).",
    "stats": "Show sizes and ratios of SNAPSHOTs (ids or 'latest'; default: all matching).",
    "check": "Check the repository's structure, and with --read-data its data.",
    "repair": "Repair the repository.",
    "key": "Manage the repository's key slots.",
    "agent": "Manage write-only backup agents.",
    "copy": "Copy snapshots from --from-repo into the repository, re-encrypted under its keys.",
    "backend": "Storage backends: check that a storage location behaves as keyark needs.",
    "forget": "Remove snapshots: the SNAPSHOT_IDS given, or those a --keep-* policy does not keep.",
    "rewrite": "Write new snapshots without the paths matching the exclude patterns.",
    "tag": "Set (--set), add (--add) or remove (--remove) tags of snapshots.",
    "prune": "Remove unused data: delete unused packs, repack partly used ones.",
    "unlock": "Remove locks left by processes that are gone.",
    "debug": "Inspect repository internals.",
    "catalog": "Manage the local catalog (a rebuildable cache).",
    "version": "Print keyark's version (with --json: as restic's 'version' message).",
    "generate": "Write shell completion scripts or man pages.",
    "config": "Check, show, describe, create or import the config file (keyark.yaml).",
    "daemon": "Run the scheduler in the foreground, or start, stop or show it in the background.",
    "serve": "Serve the REST API and the dashboard over the config file's repositories and jobs.",
    "schedule": "Show each job and maintenance task: its schedule, last run and next time.",
    "history": "List the runs of jobs and maintenance tasks (all, or JOB's), oldest first.",
    "audit": "Read, verify and export the audit log.",
    "run": "Run JOBs of the config file now: hooks, backup, verify, forget, copies.",
    "inventory": (
        "List the key material of a snapshot: certificates, keys, what expires, what is weak."
    ),
    "metrics": "Print the Prometheus metrics of the config's jobs and repositories, or write them.",
    "monitor": "Run health checks, list alerts, or send a test alert.",
    "erase": "Erase paths from the repository: rewrite, forget, prune, then prove they are gone.",
    "compliance": "Report PCI DSS and GDPR compliance evidence gathered from the repository.",
    "mount": "Mount the snapshots read-only at MOUNTPOINT (FUSE) until Ctrl-C or an unmount.",
    "export": "Export SNAPSHOT[:DIR] as a verified archive, verify one, or show the signing key.",
    "import": (
        "Store existing archives as snapshots, one each: tar, tar.gz, tar.zst, zip, and "
        "'openssl enc -aes-256-cbc' archives (with --openssl-key-file)."
    ),
    "server": "Manage the HTTP server's API tokens and dashboard users.",
    "drill": "Restore a snapshot into a scratch directory, verify it and time it.",
}
#: Modules that add subcommands to a verb's group when it loads.
EXTENSIONS = {"key": ["keyark.cli.rotation"]}
#: Libraries whose debug output carries credentials (signed headers, session tokens):
#: they stay at WARNING even with ``--debug``.
QUIET_LIBRARIES = (
    "botocore",
    "boto3",
    "s3transfer",
    "urllib3",
    "requests",
    "paramiko",
    "azure",
    "google",
    "ftplib",
)


class LazyGroup(click.Group):
    """A group whose verbs are imported on first use; each accepts the global options."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(VERBS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = VERBS.get(cmd_name)
        if module_name is None:
            return None
        module = importlib.import_module(module_name)
        for extension in EXTENSIONS.get(cmd_name, []):
            importlib.import_module(extension)
        command: click.Command = module.command
        return attach_everywhere(command, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The verbs and their one-line help, without importing them."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            summary = SUMMARIES.get(name)
            if summary is None:
                command = self.get_command(ctx, name)
                if command is None or command.hidden:
                    continue
                summary = command.get_short_help_str(limit)
            rows.append((name, _shortened(summary, limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _shortened(text: str, limit: int) -> str:
    """``text`` cut at a word to fit ``limit`` columns, with ``...`` (as click shortens)."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 3, 1)].rsplit(" ", 1)[0].rstrip(",;:") + "..."


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="keyark")
@global_options
def cli() -> None:
    """keyark: encrypted, deduplicated, verifiable backups of keys and secrets."""


class _StderrHandler(logging.StreamHandler[TextIO]):
    """The command line's log handler (told apart from handlers a host program added)."""


class _HintFormatter(logging.Formatter):
    """Appends the CLI's wording of a record's face-neutral ``hint`` (``extra={"hint": ...}``)."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        hint = getattr(record, "hint", None)
        advice = cli_hint(hint) if isinstance(hint, Hint) else ""
        return f"{text}; {advice}" if advice else text


def configure_logging(debug: bool) -> None:
    """Log to stderr through a redacting filter; ``--debug`` raises keyark's loggers only.

    The root logger stays at WARNING, so a library never logs its requests (with
    their credentials) at debug level; everything that is logged passes
    :class:`RedactingFilter` first.
    """
    handler = _StderrHandler(sys.stderr)
    handler.setFormatter(_HintFormatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old, _StderrHandler):  # from an earlier in-process run
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("keyark").setLevel(logging.DEBUG if debug else logging.WARNING)


def _print_traceback() -> None:
    import traceback

    sys.stderr.write(redact(traceback.format_exc()))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map every error to its documented exit code.

    Ctrl-C (SIGINT) exits 130 and SIGTERM exits 143, both after the command has
    unwound: its lock is released and its temporary files are removed.
    """
    args = sys.argv[1:] if argv is None else argv
    prepare()
    debug_mode = "--debug" in args
    configure_logging(debug_mode)
    CANCEL.token = CancelToken()
    with terminate_gracefully(CANCEL.token), _no_cache("--no-cache" in args):
        return _run_cli(args, debug_mode, json_mode="--json" in args)


@contextmanager
def _no_cache(wanted: bool) -> Iterator[None]:
    """``--no-cache``: the catalog and agent cache stay in memory for this command."""
    if not wanted:
        yield
        return
    from keyark.cache_dir import NO_CACHE_ENV  # pathlib and friends: only when asked

    previous = os.environ.get(NO_CACHE_ENV)
    os.environ[NO_CACHE_ENV] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(NO_CACHE_ENV, None)
        else:
            os.environ[NO_CACHE_ENV] = previous


def _interrupted(error: BaseException) -> int:
    if was_terminated(error) or CANCEL.token.exit_code == EXIT_TERMINATED:
        sys.stderr.write("keyark: terminated (SIGTERM)\n")
        return EXIT_TERMINATED
    sys.stderr.write("keyark: interrupted\n")
    return EXIT_INTERRUPTED


def _report(error: KeyarkError, json_mode: bool) -> None:
    """The error as one line: its message and the CLI's wording of its hint."""
    message = redact(str(error))
    advice = cli_hint(error.hint)
    if json_mode:
        line = {"message_type": "error", "code": error.code, "message": message}
        if error.hint is not None:
            line.update(hint=str(error.hint), advice=advice)
        import json

        sys.stderr.write(json.dumps(line) + "\n")
    else:
        sys.stderr.write(f"keyark: {message}{'; ' + advice if advice else ''}\n")


def _run_cli(args: list[str], debug_mode: bool, *, json_mode: bool = False) -> int:
    try:
        result = cli.main(args=args, prog_name="keyark", standalone_mode=False)
        return int(result or 0)
    except click.exceptions.Exit as stop:
        return int(stop.exit_code)
    except click.exceptions.Abort as abort:  # click turns KeyboardInterrupt into Abort
        return _interrupted(abort)
    except click.ClickException as error:
        error.show()
        return EXIT_ERROR
    except KeyboardInterrupt as interrupt:  # Terminated (SIGTERM) included
        return _interrupted(interrupt)
    except CancelledError as cancelled:
        return _interrupted(cancelled)
    except KeyarkError as error:
        if debug_mode:
            _print_traceback()
        _report(error, json_mode)
        return exit_code_for(error)
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as error:  # the last line of defence: one line, no traceback
        if debug_mode:
            _print_traceback()
        sys.stderr.write(
            f"keyark: unexpected error: {type(error).__name__}: {redact(str(error))} "
            "(run with --debug for details)\n"
        )
        return EXIT_ERROR


def run() -> None:
    sys.exit(main())


__all__ = ["SUMMARIES", "VERBS", "cli", "main", "run"]
