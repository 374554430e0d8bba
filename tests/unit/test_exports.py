"""Names of ``keyark`` and ``keyark.config`` imported on first use (:mod:`keyark.exports`)."""

from __future__ import annotations

import importlib
import math
import subprocess
import sys
import textwrap
from types import ModuleType

import pytest

import keyark
import keyark.config
from keyark.exports import lazy_exports


@pytest.mark.parametrize("package", [keyark, keyark.config])
def test_every_listed_name_is_its_module_s_object(package: ModuleType) -> None:
    exports: dict[str, str] = vars(package)["_EXPORTS"]
    assert set(exports) <= set(package.__all__)
    for name, module in exports.items():
        assert getattr(package, name) is getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("package", [keyark, keyark.config])
def test_an_unknown_name_is_an_attribute_error(package: ModuleType) -> None:
    message = f"module {package.__name__!r} has no attribute 'no_such_name'"
    with pytest.raises(AttributeError, match=message):
        getattr(package, "no_such_name")
    assert not hasattr(package, "no_such_name")


def test_lazy_exports_reads_the_mapped_module() -> None:
    lookup = lazy_exports("somewhere", {"sqrt": "math"})
    assert lookup("sqrt") is math.sqrt
    with pytest.raises(AttributeError, match="module 'somewhere' has no attribute 'pi'"):
        lookup("pi")  # in math, but not listed


def test_a_module_is_imported_on_first_use_only() -> None:
    """A fresh interpreter: importing the package loads neither module; the first read
    of a name loads its module (the positive control that the check can fail)."""
    script = textwrap.dedent(
        """
        import sys
        import keyark, keyark.config
        lazy = ("keyark.config.resolve", "keyark.api")
        print(*(m in sys.modules for m in lazy))
        keyark.config.backend_options
        keyark.Client
        print(*(m in sys.modules for m in lazy))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split("\n")[:2] == ["False False", "True True"]
