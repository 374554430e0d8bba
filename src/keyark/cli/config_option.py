"""The ``--config FILE`` option of the verbs that read the config file (``config``,
``run``, ``daemon``, ``schedule``, ``history``) and the config it names."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from keyark.config.document import KeyarkConfig

F = TypeVar("F", bound=Callable[..., Any])

#: Root-context ``meta`` key of the ``--config`` value (wherever on the line it was given).
CONFIG_KEY = "keyark.config_file"


def _remember(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        ctx.find_root().meta[CONFIG_KEY] = value
    return value


def config_option(function: F) -> F:
    """Add ``--config FILE`` (kept on the root context: a group's value reaches its
    subcommands)."""
    option = click.option(
        "--config",
        "config_file",
        metavar="FILE",
        callback=_remember,
        expose_value=False,
        is_eager=True,
        help="The config file (default: KEYARK_CONFIG, ./keyark.yaml, "
        "~/.config/keyark/keyark.yaml, /etc/keyark/keyark.yaml).",
    )
    return option(function)


def config_file_given(ctx: click.Context) -> str | None:
    """The ``--config`` value given on the command line (None: not given)."""
    value = ctx.find_root().meta.get(CONFIG_KEY)
    return value if isinstance(value, str) else None


def load_config(ctx: click.Context) -> KeyarkConfig:
    """The config ``--config`` names, else the one found (an error when there is none)."""
    from keyark.config.loading import config_from_option

    return config_from_option(config_file_given(ctx))


def found_config(ctx: click.Context) -> KeyarkConfig | None:
    """The config ``--config`` names, else the one found; None when there is none (a
    verb that also works without one)."""
    from keyark.daemon.config_file import load_config, look_for_config

    path = look_for_config(config_file_given(ctx))
    return None if path is None else load_config(path)


__all__ = ["config_file_given", "config_option", "found_config", "load_config"]
