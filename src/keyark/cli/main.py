"""The ``keyark`` command: a click group, its verbs, and the one error handler."""

from __future__ import annotations

import logging
import sys
import traceback

import click

from keyark import __version__
from keyark.cli import (
    agent,
    backend,
    backup,
    catalog,
    check,
    copy,
    debug,
    diff,
    dump,
    find,
    forget,
    init,
    key,
    ls,
    prune,
    repair,
    restore,
    rotation,
    snapshots,
    stats,
    unlock,
)
from keyark.cli.settings import global_options, settings_of
from keyark.errors import EXIT_ERROR, EXIT_INTERRUPTED, KeyarkError, exit_code_for
from keyark.process import prepare

_ = rotation  # registers 'key rotate' and 'key status' on the key group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="keyark")
@global_options
def cli() -> None:
    """keyark: encrypted, deduplicated, verifiable backups of keys and secrets."""


for module in (
    init,
    backup,
    snapshots,
    ls,
    restore,
    dump,
    diff,
    find,
    stats,
    check,
    repair,
    key,
    debug,
    catalog,
    forget,
    prune,
    unlock,
    agent,
    copy,
    backend,
):
    cli.add_command(module.command)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map every error to its documented exit code."""
    args = sys.argv[1:] if argv is None else argv
    prepare()
    debug_mode = "--debug" in args
    logging.basicConfig(
        level=logging.DEBUG if debug_mode else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        result = cli.main(args=args, prog_name="keyark", standalone_mode=False)
        return int(result or 0)
    except click.exceptions.Exit as stop:
        return int(stop.exit_code)
    except click.exceptions.Abort:
        sys.stderr.write("keyark: interrupted\n")
        return EXIT_INTERRUPTED
    except click.ClickException as error:
        error.show()
        return EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("keyark: interrupted\n")
        return EXIT_INTERRUPTED
    except KeyarkError as error:
        if debug_mode:
            traceback.print_exc()
        sys.stderr.write(f"keyark: {error}\n")
        return exit_code_for(error)
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as error:  # the last line of defence: one line, no traceback
        if debug_mode:
            traceback.print_exc()
        sys.stderr.write(
            f"keyark: unexpected error: {type(error).__name__}: {error} "
            "(run with --debug for details)\n"
        )
        return EXIT_ERROR


def run() -> None:
    sys.exit(main())


__all__ = ["cli", "main", "run", "settings_of"]
