"""The ``keyark`` command: a click group, its verbs, and the one error handler."""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import click

from keyark import __version__
from keyark.cache_dir import NO_CACHE_ENV
from keyark.cancel import CancelToken
from keyark.cli.hints import cli_hint
from keyark.cli.settings import CANCEL, global_options, settings_of
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
    "restore": "keyark.cli.restore",
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
    "prune": "keyark.cli.prune",
    "unlock": "keyark.cli.unlock",
    "debug": "keyark.cli.debug",
    "catalog": "keyark.cli.catalog",
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
    """A group whose verbs are imported on first use."""

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
        return command


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
    previous = os.environ.get(NO_CACHE_ENV)
    if wanted:
        os.environ[NO_CACHE_ENV] = "1"
    try:
        yield
    finally:
        if wanted:
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


__all__ = ["cli", "main", "run", "settings_of"]
