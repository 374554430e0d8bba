"""A job's ``verify:`` setting: what of a run's new data is read back after the backup."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SUBSET = re.compile(r"^subset\s+(\d+(?:\.\d+)?)\s*%$")


@dataclass(frozen=True)
class VerifySpec:
    """``none``, ``full`` (every blob the run wrote) or ``subset N%`` of them."""

    mode: str = "none"
    #: The share of the run's new blobs to read, 0 < percent <= 100 (``subset`` only).
    percent: float = 100.0

    @property
    def enabled(self) -> bool:
        return self.mode != "none"


def parse_verify(text: str) -> VerifySpec:
    """The verify spec a config text names; ``ValueError`` says what is wrong."""
    cleaned = " ".join(text.split()).lower()
    if cleaned in ("none", "full"):
        return VerifySpec(cleaned)
    match = _SUBSET.match(cleaned)
    if match is None:
        raise ValueError(f"verify {text!r}: use none, full or 'subset N%' (e.g. subset 10%)")
    percent = float(match.group(1))
    if not 0 < percent <= 100:
        raise ValueError(f"verify {text!r}: the percentage must be more than 0 and at most 100")
    return VerifySpec("subset", percent)
