"""Where the repository layer's warnings go while its callers move to typed events.

A function of this layer that warns takes ``events`` (an
:class:`~keyark.events.Events`: the warning gets its :class:`~keyark.events.Code`),
or, for callers not converted yet, a ``warn(message)`` callback (the code is
dropped). Once every caller passes events, :data:`Report` becomes ``Events``.
"""

from __future__ import annotations

from collections.abc import Callable

from keyark.events import Code, Events

#: Events, a legacy one-argument warning callback, or nobody.
Report = Events | Callable[[str], None] | None


def report(to: Report, code: Code, message: str, *, subject: str | None = None) -> None:
    """Send one warning to ``to`` (nothing when it is None)."""
    if isinstance(to, Events):
        to.warn(code, message, subject=subject)
    elif to is not None:
        to(message)


__all__ = ["Report", "report"]
