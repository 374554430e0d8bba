"""A command group with a default subcommand (``keyark export SNAPSHOT``, ``keyark inventory``)."""

from __future__ import annotations

from typing import Any

import click


class DefaultCommandGroup(click.Group):
    """A group whose first word, when it names no subcommand, goes to ``default``.

    ``keyark export SNAPSHOT`` is ``keyark export create SNAPSHOT``: a snapshot id is
    never taken for a subcommand. With ``bare``, the group alone runs ``default`` too
    (``keyark inventory`` is ``keyark inventory show``); ``--help``/``-h`` stay the
    group's.
    """

    def __init__(self, *args: Any, default: str, bare: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.default = default
        self.bare = bare

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Put the default subcommand's name before a first word that names no other."""
        if (self.bare and not args) or (
            args and args[0] not in self.commands and args[0] not in ("--help", "-h")
        ):
            args = [self.default, *args]
        return super().parse_args(ctx, args)


__all__ = ["DefaultCommandGroup"]
