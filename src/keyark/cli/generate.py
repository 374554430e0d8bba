"""``keyark generate``: shell completion scripts and man pages (as restic's ``generate``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.shell_completion import get_completion_class

from keyark.cli.manpages import write_pages
from keyark.errors import UsageError

#: The variable the completion scripts set when they ask keyark for completions.
COMPLETE_VAR = "_KEYARK_COMPLETE"


def completion_script(ctx: click.Context, shell: str) -> str:
    """The completion script for ``shell`` (bash, zsh or fish), from click's machinery."""
    root = ctx.find_root()
    completion = get_completion_class(shell)
    assert completion is not None
    return completion(root.command, {}, "keyark", COMPLETE_VAR).source()


def _write(target: str, text: str) -> None:
    """``text`` to the file ``target`` (``-``: standard output)."""
    if target == "-":
        sys.stdout.write(text)
        return
    try:
        Path(target).write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write {target}: {error.strerror or error}") from None


@click.command("generate")
@click.option("--bash-completion", metavar="FILE", help="Write the bash completion script to FILE.")
@click.option("--zsh-completion", metavar="FILE", help="Write the zsh completion script to FILE.")
@click.option("--fish-completion", metavar="FILE", help="Write the fish completion script to FILE.")
@click.option("--man", "man_dir", metavar="DIR", help="Write a man page per command to DIR.")
@click.pass_context
def command(
    ctx: click.Context,
    bash_completion: str | None,
    zsh_completion: str | None,
    fish_completion: str | None,
    man_dir: str | None,
) -> None:
    """Write shell completion scripts or man pages.

    FILE may be '-' for standard output. Install the bash script as
    /etc/bash_completion.d/keyark (or source it from ~/.bashrc).
    """
    scripts = {"bash": bash_completion, "zsh": zsh_completion, "fish": fish_completion}
    if not any(scripts.values()) and not man_dir:
        raise UsageError(
            "nothing to generate: give --bash-completion, --zsh-completion, "
            "--fish-completion FILE or --man DIR"
        )
    for shell, target in scripts.items():
        if target:
            _write(target, completion_script(ctx, shell))
    if man_dir:
        try:
            pages = write_pages(ctx, Path(man_dir))
        except OSError as error:
            raise UsageError(f"cannot write man pages to {man_dir}: {error}") from None
        if not any(target == "-" for target in scripts.values()):
            click.echo(f"wrote {len(pages)} man pages to {man_dir}", err=True)


__all__ = ["COMPLETE_VAR", "command", "completion_script"]
