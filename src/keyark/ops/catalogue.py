"""The operation catalogue: every operation a face can run, declared once.

An operation is a function ``(OperationContext, Options) -> Result`` registered
with :func:`operation`, which records its name, options and result types, whether
it changes the repository and whether it reads secret content (restored or dumped
file data, key material). The HTTP API and its role checks are generated from
:data:`CATALOGUE`; the CLI and the Python API call the same entries.

Calling an :class:`Operation` runs it with its events: ``started``, then
``finished`` with the result's ``to_dict()``, or ``failed`` with the error's code
and hint (the error is re-raised). A cancel asked for before it starts ends it at
once with :class:`~keyark.errors.CancelledError`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from keyark.context import OperationContext
from keyark.errors import KeyarkError, UsageError


class Result(Protocol):
    """What every operation returns: a typed value with a JSON-ready form."""

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data (what ``--json`` prints and the API returns)."""
        ...


OptionsT = TypeVar("OptionsT")
R = TypeVar("R", bound=Result)


@dataclass(frozen=True)
class Operation(Generic[OptionsT, R]):
    """One catalogue entry; call it as ``operation(ctx, options)``."""

    name: str
    options: type[OptionsT]
    result: type[R]
    run: Callable[[OperationContext, OptionsT], R]
    #: Whether it writes to the repository (a read-only role may not run it).
    mutates: bool
    #: Whether it returns or writes secret content (file data, key material).
    reads_secrets: bool
    #: One line for help texts and the API description.
    summary: str
    #: Whether the result itself holds secret content (decrypted objects): its
    #: ``finished`` event then carries no result, so no listener (audit log, metrics,
    #: ``--json`` stream) receives it; only the caller does.
    secret_result: bool = False

    def __call__(self, ctx: OperationContext, options: OptionsT) -> R:
        ctx = ctx.for_operation(self.name)
        ctx.cancel.check()
        if self.mutates and ctx.config is not None and ctx.config.no_lock:
            raise UsageError(f"{self.name} changes the repository, so it cannot run without a lock")
        from keyark.audit.hook import AuditHook  # the audit log: every call passes here

        audit = AuditHook.begin(ctx, self, options)  # refuses when a required log is unwritable
        clock = time.monotonic()
        ctx.events.started(describe_options(options))
        try:
            result = self.run(ctx, options)
        except KeyarkError as error:
            hint = None if error.hint is None else str(error.hint)
            ctx.events.failed(error.code, str(error), hint, time.monotonic() - clock)
            audit.failed(error.code)
            raise
        except BaseException as error:
            code = "interrupted" if isinstance(error, KeyboardInterrupt) else "internal"
            ctx.events.failed(code, type(error).__name__, None, time.monotonic() - clock)
            audit.failed(code)
            raise
        wanted = audit.audited or ctx.events.results  # (see Events.results)
        shown = result.to_dict() if wanted and not self.secret_result else {}
        audit.finished(shown)
        ctx.events.finished(shown, time.monotonic() - clock)
        return result

    def describe(self) -> dict[str, Any]:
        """Name, flags and the option and result fields (for the API and docs)."""
        flags = {
            "mutates": self.mutates,
            "reads_secrets": self.reads_secrets,
            "secret_result": self.secret_result,
        }
        fields = {"options": _fields(self.options), "result": _fields(self.result)}
        return {"name": self.name, "summary": self.summary, **flags, **fields}


#: Every operation by name, in registration order.
CATALOGUE: dict[str, Operation[Any, Any]] = {}


def operation(
    name: str,
    *,
    options: type[OptionsT],
    result: type[R],
    mutates: bool,
    reads_secrets: bool = False,
    secret_result: bool = False,
) -> Callable[[Callable[[OperationContext, OptionsT], R]], Operation[OptionsT, R]]:
    """Register the decorated function as operation ``name`` (the docstring's first line
    becomes its summary)."""

    def register(run: Callable[[OperationContext, OptionsT], R]) -> Operation[OptionsT, R]:
        if name in CATALOGUE:
            raise ValueError(f"operation {name!r} registered twice")
        summary = (run.__doc__ or name).strip().splitlines()[0]
        entry = Operation(
            name, options, result, run, mutates, reads_secrets, summary, secret_result
        )
        CATALOGUE[name] = entry
        return entry

    return register


def describe_options(options: object) -> dict[str, object]:
    """An options value as secret-free, JSON-ready data (for the ``started`` event)."""
    if not dataclasses.is_dataclass(options) or isinstance(options, type):
        return {}
    shown: dict[str, object] = {}
    for item in dataclasses.fields(options):
        if not item.repr or item.metadata.get("secret"):
            continue
        value = getattr(options, item.name)
        if isinstance(value, str | int | float | bool) or value is None:
            shown[item.name] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            shown[item.name] = list(value)
    return shown


def _fields(kind: type) -> list[dict[str, str]]:
    if not dataclasses.is_dataclass(kind):
        return []
    return [
        {"name": item.name, "type": str(item.type)}
        for item in dataclasses.fields(kind)
        if item.repr and not item.metadata.get("secret")
    ]


__all__ = ["CATALOGUE", "Operation", "Result", "describe_options", "operation"]
