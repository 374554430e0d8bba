"""``catalog rebuild``: drop the local catalog (a cache) and fill it from the repository."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from keyark.catalog.snapshots import rebuild_catalog
from keyark.context import OperationContext
from keyark.ops.catalogue import operation
from keyark.ops.session import opened


@dataclass
class CatalogRebuildOptions:
    """``catalog rebuild`` takes no options (the cache directory is the context's)."""


@dataclass
class CatalogRebuild:
    """How many snapshots the rebuilt catalog holds and how long it took."""

    snapshots: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"snapshots": self.snapshots, "seconds": round(self.seconds, 3)}


@operation("catalog rebuild", options=CatalogRebuildOptions, result=CatalogRebuild, mutates=False)
def catalog_rebuild(ctx: OperationContext, options: CatalogRebuildOptions) -> CatalogRebuild:
    """Drop the local catalog and rebuild it from the repository."""
    with opened(ctx) as repo:
        started = time.monotonic()
        count = rebuild_catalog(repo, ctx)
        return CatalogRebuild(count, time.monotonic() - started)
