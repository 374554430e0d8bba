"""Man pages (roff, section 1) for a click command tree: ``keyark generate --man DIR``."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import click

from keyark import __version__


def walk(ctx: click.Context) -> Iterator[click.Context]:
    """``ctx`` and a context for every visible subcommand below it, depth first."""
    yield ctx
    command = ctx.command
    if not isinstance(command, click.Group):
        return
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        if sub is None or sub.hidden:
            continue
        yield from walk(click.Context(sub, info_name=name, parent=ctx))


def _escape(text: str) -> str:
    """Text safe in roff: backslashes doubled, a leading ``.`` or ``'`` protected."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(
        "\\&" + line if line.startswith((".", "'")) else line for line in text.splitlines()
    )


def page(ctx: click.Context) -> str:
    """The man page of the command of ``ctx``."""
    command = ctx.command
    path = ctx.command_path
    title = path.replace(" ", "-")
    date = datetime.date.today().isoformat()
    lines = [
        f'.TH "{title.upper()}" "1" "{date}" "keyark {__version__}" "keyark manual"',
        ".SH NAME",
        f"{_escape(title)} \\- {_escape(command.get_short_help_str(limit=200))}",
        ".SH SYNOPSIS",
        f".B {_escape(path)}",
        _escape(" ".join(command.collect_usage_pieces(ctx))),
        ".SH DESCRIPTION",
        _escape(command.help or ""),
    ]
    options = [param.get_help_record(ctx) for param in command.get_params(ctx)]
    records = [record for record in options if record is not None]
    if records:
        lines.append(".SH OPTIONS")
        for flags, text in records:
            lines += [".TP", f"\\fB{_escape(flags)}\\fR", _escape(text)]
    if isinstance(command, click.Group):
        names = [name for name in command.list_commands(ctx)]
        lines.append(".SH COMMANDS")
        for name in names:
            lines += [".TP", f"\\fB{_escape(title)}\\-{_escape(name)}\\fR(1)"]
    lines += [".SH SEE ALSO", "\\fBkeyark\\fR(1)" if ctx.parent else "\\fBrestic\\fR(1)"]
    return "\n".join(lines) + "\n"


def write_pages(ctx: click.Context, directory: Path) -> list[Path]:
    """A page for the root command of ``ctx`` and each command below it, in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    root = ctx.find_root()
    top = click.Context(root.command, info_name=root.info_name)
    written = []
    for each in walk(top):
        target = directory / f"{each.command_path.replace(' ', '-')}.1"
        target.write_text(page(each), encoding="utf-8")
        written.append(target)
    return written


__all__ = ["page", "walk", "write_pages"]
