"""A package's names imported on first use (PEP 562), so the command line starts fast.

``keyark`` and ``keyark.config`` list each public name with the module defining it;
the module is imported when the name is first read, never when the package is.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package``: each name of ``exports`` read from the
    module it maps to (imported then); any other name is an :class:`AttributeError`."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__


__all__ = ["lazy_exports"]
