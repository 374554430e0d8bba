"""The global options: one definition, accepted by every command and group.

``keyark -r X snapshots``, ``keyark snapshots -r X`` and ``keyark key -r X list``
all work: :func:`attach_everywhere` gives every command and group of the tree the
options of :data:`GLOBAL` (those a command does not define itself), a few commands
their extra secret-source flags (:data:`VERB_OPTIONS`), and the options whose
default comes from a ``KEYARK_*`` variable their variable (:data:`ENVIRONMENT`).

The values land in a plain dict on the root context (:func:`given`);
:func:`keyark.cli.settings.settings_of` turns it into ``Settings``. This module
imports click only, so ``--help`` and ``version`` never load the config model or
the operations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

#: Root-context ``meta`` keys: the given values, and the ``Settings`` built from them.
GIVEN_KEY = "keyark.given"
SETTINGS_KEY = "keyark.settings"
#: Root-context ``meta`` key of the ``-v`` count (summed over every place it was given).
VERBOSITY_KEY = "keyark.verbosity"
_ATTACHED = "_keyark_global_options"


@dataclass(frozen=True)
class OptionSpec:
    """One global option: its flags, help text and metavar (built fresh per command).

    A ``count`` option (``-v``) adds up wherever it is given (``keyark -v backup -v``
    is ``-vv``); its total is :func:`verbosity`, not a ``Settings`` field.
    """

    decls: tuple[str, ...]
    help: str
    metavar: str | None = None
    flag: bool = False
    count: bool = False

    def build(self) -> click.Option:
        """A new click option that stores its value in the root context's dict."""
        return click.Option(
            list(self.decls),
            is_flag=self.flag,
            count=self.count,
            metavar=self.metavar,
            help=self.help,
            expose_value=False,
            callback=_count if self.count else _store,
            is_eager=True,
        )

    @cached_property
    def name(self) -> str:
        """The parameter name (``--no-cache`` -> ``no_cache``)."""
        return str(self.build().name)


def _spec(
    *decls: str, help: str, metavar: str | None = None, flag: bool = False, count: bool = False
) -> OptionSpec:
    return OptionSpec(decls, help, metavar, flag, count)


#: Every global option, once.
GLOBAL: tuple[OptionSpec, ...] = (
    _spec("-r", "--repo", help="Repository location (or KEYARK_REPOSITORY)."),
    _spec(
        "--repository-file",
        metavar="FILE",
        help="Read the repository location from FILE (or KEYARK_REPOSITORY_FILE).",
    ),
    _spec("--password-file", metavar="FILE", help="Read the passphrase from FILE."),
    _spec("--password-command", metavar="CMD", help="Run CMD to get the passphrase."),
    _spec("--cache-dir", metavar="DIR", help="Local cache directory."),
    _spec("--no-cache", flag=True, help="Keep the catalog and caches in memory only."),
    _spec(
        "--no-lock",
        flag=True,
        help="Read without writing a lock (reading commands only).",
    ),
    _spec("--retry-lock", metavar="DURATION", help="Retry a held lock for DURATION."),
    _spec("--agent-credential", metavar="FILE", help="Write-only agent credential (backup only)."),
    _spec("--json", flag=True, help="Machine-readable output."),
    _spec("-q", "--quiet", flag=True, help="Only errors."),
    _spec(
        "-v",
        "--verbose",
        count=True,
        help="More detail (repeatable: -vv); backup lists new and changed files, -vv every file.",
    ),
    _spec("--debug", flag=True, help="Log details and show tracebacks."),
    _spec("--key-file", metavar="PATH", help="Open with this key file (or KEYARK_KEY_FILE)."),
    _spec("--pkcs11-module", metavar="PATH", help="Open with a PKCS#11 key: module."),
    _spec("--pkcs11-token", metavar="LABEL", help="PKCS#11 token label."),
    _spec("--pkcs11-key", metavar="LABEL", help="PKCS#11 key label."),
    _spec(
        "--sftp-known-hosts", metavar="FILE", help="SFTP: trusted host keys (~/.ssh/known_hosts)."
    ),
    _spec("--sftp-identity", metavar="FILE", help="SFTP: private key to log in with."),
    _spec("--s3-endpoint", metavar="URL", help="S3: endpoint of an S3-compatible store."),
    _spec("--ftp-ca-file", metavar="FILE", help="FTPS: trusted CA certificate(s)."),
    _spec("--limit-upload", metavar="KiB/s", help="Upload bandwidth limit (KEYARK_LIMIT_UPLOAD)."),
    _spec(
        "--limit-download",
        metavar="KiB/s",
        help="Download bandwidth limit (KEYARK_LIMIT_DOWNLOAD).",
    ),
    _spec("--connections", metavar="N", help="Parallel backend connections (KEYARK_CONNECTIONS)."),
)

_NEW_PASSWORD_FILE = _spec(
    "--new-password-file",
    metavar="FILE",
    help="Read the new passphrase from FILE (or KEYARK_NEW_PASSWORD(_FILE)).",
)
#: Secret sources only some commands take (command path -> options).
VERB_OPTIONS: dict[str, tuple[OptionSpec, ...]] = {
    "key add": (_NEW_PASSWORD_FILE,),
    "key passwd": (_NEW_PASSWORD_FILE,),
    "key recover": (_NEW_PASSWORD_FILE,),
    "copy": (
        _spec(
            "--from-password-command",
            metavar="CMD",
            help="Run CMD to get the source passphrase (or KEYARK_FROM_PASSWORD_COMMAND).",
        ),
    ),
}

#: Option flag -> the variable its value defaults to, on every command that has it.
ENVIRONMENT: dict[str, str] = {"--host": "KEYARK_HOST", "--compression": "KEYARK_COMPRESSION"}
#: Commands whose option of that flag means something else (``agent add --host``: the
#: hosts an agent may back up, never a default).
ENVIRONMENT_EXCEPTIONS: frozenset[tuple[str, str]] = frozenset({("agent add", "--host")})


def given(ctx: click.Context) -> dict[str, Any]:
    """The global options given so far (name -> value), kept on the root context."""
    meta = ctx.find_root().meta
    found = meta.setdefault(GIVEN_KEY, {})
    assert isinstance(found, dict)
    return found


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is None or value is False or value == ():
        return
    assert param.name is not None
    given(ctx)[param.name] = value
    built = ctx.find_root().meta.get(SETTINGS_KEY)
    if built is not None:  # a Settings exists already: keep it current
        setattr(built, param.name, value)


def _count(ctx: click.Context, param: click.Parameter, value: int) -> None:
    if value:
        meta = ctx.find_root().meta
        meta[VERBOSITY_KEY] = int(meta.get(VERBOSITY_KEY, 0)) + value
        _store(ctx, param, meta[VERBOSITY_KEY])  # Settings.verbose: the running total


def verbosity(ctx: click.Context) -> int:
    """How many times ``-v``/``--verbose`` was given, before or after the verb."""
    return int(ctx.find_root().meta.get(VERBOSITY_KEY, 0))


def verb_path(ctx: click.Context) -> str:
    """The command path below the program name (``key list``)."""
    return " ".join(ctx.command_path.split()[1:])


def global_options(func: F) -> F:
    """Attach the global options to a command here, in the source (the root group
    ``keyark``; every other command gets them from :func:`attach_everywhere`)."""
    params = getattr(func, "__click_params__", None)
    if params is None:
        params = []
        func.__click_params__ = params  # type: ignore[attr-defined]
    # click reverses __click_params__ when it builds the command.
    params.extend(spec.build() for spec in reversed(GLOBAL))
    return func


def timeout_option(default: float, help: str) -> Callable[[F], F]:
    """A verb's ``--timeout SECONDS`` (how long it waits for something to finish)."""
    return click.option(
        "--timeout",
        type=float,
        default=default,
        show_default=True,
        metavar="SECONDS",
        help=help,
    )


def attach_everywhere(command: click.Command, path: str = "") -> click.Command:
    """Give ``command`` and every subcommand the global options they lack (once).

    An option is left out where the command already has one of that name or flag
    (``key add --key-file`` creates a key file; it is not the global one).
    """
    if not getattr(command, _ATTACHED, False):
        extra = GLOBAL + VERB_OPTIONS.get(path, ())
        for spec in extra:
            _add(command, spec)
        _environment_defaults(command, path)
        setattr(command, _ATTACHED, True)
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            attach_everywhere(sub, f"{path} {name}".strip())
    return command


def _add(command: click.Command, spec: OptionSpec) -> None:
    names = {param.name for param in command.params}
    flags = {flag for param in command.params for flag in param.opts + param.secondary_opts}
    if spec.name in names or flags.intersection(spec.decls):
        return
    command.params.append(spec.build())


def _environment_defaults(command: click.Command, path: str) -> None:
    for param in command.params:
        if not isinstance(param, click.Option) or param.envvar:
            continue
        for flag, variable in ENVIRONMENT.items():
            if flag in param.opts and (path, flag) not in ENVIRONMENT_EXCEPTIONS:
                param.envvar = variable
                param.show_envvar = True


__all__ = [
    "ENVIRONMENT",
    "GLOBAL",
    "VERB_OPTIONS",
    "OptionSpec",
    "attach_everywhere",
    "given",
    "global_options",
    "timeout_option",
    "verb_path",
    "verbosity",
]
