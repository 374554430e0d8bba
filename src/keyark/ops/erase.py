"""``erase``: remove every copy of matching paths from the repository, and prove it.

The sequence is made of catalogue operations, so each step is recorded and reported
as itself: plan (which snapshots list a matching path, which blobs those entries use:
:mod:`keyark.maintenance.erase`), ``rewrite`` of those snapshots without the paths
with their originals forgotten, ``prune`` tolerating no unused space (so packs that
held erased blobs are repacked or deleted), ``catalog rebuild`` (the local catalog
cache named the erased paths), then the proof read from scratch. A dry run stops
after the plan. The result carries the reason, the snapshots rewritten and the bytes
removed (never content) for the audit record (:meth:`Erasure.audit_details`). An
erasure whose proof finds something left raises :class:`ErasureUnverifiedError`
(carrying the result), so the audit log records it as failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keyark.context import OperationContext
from keyark.errors import ErasureUnverifiedError
from keyark.maintenance.erase import AffectedSnapshot as AffectedSnapshot
from keyark.maintenance.erase import EraseOptions as EraseOptions
from keyark.maintenance.erase import ErasurePlan, plan_erasure, prove_erasure
from keyark.maintenance.erase import ErasureProof as ErasureProof
from keyark.maintenance.erase import RetainedBlob as RetainedBlob
from keyark.maintenance.snapshot_edit import Selection, choose_snapshots, load_for_edit
from keyark.ops.catalog import CatalogRebuildOptions, catalog_rebuild
from keyark.ops.catalogue import operation
from keyark.ops.prune import PruneOptions, prune
from keyark.ops.rewrite import RewriteOptions, rewrite
from keyark.ops.session import opened
from keyark.units import UnusedLimit


@dataclass
class Erasure:
    """What ``erase`` found (and, unless a dry run, removed and proved)."""

    reason: str
    patterns: list[str]
    dry_run: bool
    snapshots: list[AffectedSnapshot] = field(default_factory=list)
    #: Blobs of the matching entries (and trees naming them) and their stored bytes.
    planned_blobs: int = 0
    planned_bytes: int = 0
    #: Set after the erasure: the proof, and the catalog cache rebuilt.
    proof: ErasureProof | None = None
    catalog_rebuilt: bool = False

    @property
    def paths(self) -> list[str]:
        """Every matching path, once, sorted."""
        return sorted({path for item in self.snapshots for path in item.paths})

    @property
    def verified(self) -> bool:
        """Whether the proof found nothing left (a dry run proves nothing: False)."""
        return self.proof is not None and self.proof.verified

    def audit_details(self) -> dict[str, Any]:
        """What the audit record keeps: the reason, the snapshots rewritten (original ->
        replacement), the bytes removed and whether the proof passed; never content."""
        proof = self.proof
        return {
            "reason": self.reason,
            "patterns": list(self.patterns),
            "dry_run": self.dry_run,
            "snapshots_rewritten": {s.snapshot: s.replacement for s in self.snapshots},
            "bytes_removed": 0 if proof is None else proof.removed_bytes,
            "blobs_removed": 0 if proof is None else proof.removed_blobs,
            "verified": self.verified,
        }

    def to_dict(self) -> dict[str, Any]:
        details = self.audit_details()
        return {
            "message_type": "erasure",
            "reason": self.reason,
            # flat fields the audit record keeps (never content)
            "snapshots_rewritten": sorted(details["snapshots_rewritten"]),
            "bytes_removed": details["bytes_removed"],
            "patterns": list(self.patterns),
            "dry_run": self.dry_run,
            "paths": self.paths,
            "snapshots": [item.to_dict() for item in self.snapshots],
            "planned_blobs": self.planned_blobs,
            "planned_bytes": self.planned_bytes,
            "catalog_rebuilt": self.catalog_rebuilt,
            "verified": self.verified,
            "proof": None if self.proof is None else self.proof.to_dict(),
        }


@operation("erase", options=EraseOptions, result=Erasure, mutates=True)
def erase(ctx: OperationContext, options: EraseOptions) -> Erasure:
    """Erase matching paths from every snapshot (rewrite, forget, prune) and prove it."""
    patterns = options.validate()  # before the repository is opened: bad input changes nothing
    with opened(ctx) as repo:
        repo.blobs.load_index()
        every = load_for_edit(repo, ctx)
        chosen = every
        if options.snapshots:
            chosen = choose_snapshots(every, Selection(list(options.snapshots)), ctx)
        plan = plan_erasure(repo, patterns, chosen, ctx.cancel)
    result = _result(options, plan)
    if options.dry_run:
        return result
    if plan.snapshots:
        rewritten = rewrite(
            ctx,
            RewriteOptions(
                snapshots=[item.snapshot for item in plan.snapshots],
                exclude=list(options.paths),
                forget=True,
            ),
        )
        replacements = {item.original: item.replacement for item in rewritten.snapshots}
        for item in result.snapshots:
            item.replacement = replacements.get(item.snapshot)
    # Always: data of snapshots forgotten earlier (never planned: no snapshot lists it)
    # goes too, as nothing uses it.
    prune(ctx, PruneOptions(max_unused=UnusedLimit(percent=None, size=0)))
    catalog_rebuild(ctx, CatalogRebuildOptions())
    result.catalog_rebuilt = True
    with opened(ctx) as repo:
        result.proof = prove_erasure(repo, patterns, plan, ctx.cancel)
    if not result.verified:
        proof = result.proof
        raise ErasureUnverifiedError(
            f"the erasure could not be verified: {len(proof.still_listed)} listing(s) of a "
            f"matching path remain, {len(proof.orphaned)} unused blob(s) still indexed",
            result=result,
        )
    return result


def _result(options: EraseOptions, plan: ErasurePlan) -> Erasure:
    return Erasure(
        reason=options.reason,
        patterns=list(options.paths),
        dry_run=options.dry_run,
        snapshots=plan.snapshots,
        planned_blobs=len(plan.blobs),
        planned_bytes=plan.stored_bytes,
    )
