"""The JSON form the maintenance results share: their fields plus ``message_type``."""

from __future__ import annotations

from dataclasses import Field, asdict
from typing import Any, ClassVar


class Summary:
    """Mixin for a result dataclass: ``to_dict()`` is its fields (nested ones too), any
    :meth:`derived` values, and ``message_type`` (what ``--json`` consumers key on)."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]
    message_type: ClassVar[str] = "summary"

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        return {"message_type": self.message_type, **asdict(self), **self.derived()}

    def derived(self) -> dict[str, Any]:
        """Values computed from the fields (ratios, totals); none by default."""
        return {}


__all__ = ["Summary"]
