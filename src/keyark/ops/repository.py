"""``init``: create a repository, and the secret options every key operation shares."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from keyark import keys, storage
from keyark.context import OperationContext
from keyark.ops.catalogue import operation


def secret_option(default: Any = dataclasses.MISSING) -> Any:
    """A secret option field: never in ``repr()``, the catalogue or a ``started`` event."""
    return dataclasses.field(default=default, repr=False, metadata={"secret": True})


@dataclass(frozen=True)
class InitOptions:
    """The new repository's passphrase, its KDF, pack size and S3 Object Lock days."""

    passphrase: bytes = secret_option()
    #: ``argon2id`` or ``pbkdf2`` (PBKDF2-HMAC-SHA256, 600,000 iterations).
    kdf: str = "argon2id"
    pack_size_mib: int = 16
    #: S3 only: create the bucket with Object Lock, every object retained this many days.
    s3_object_lock_days: int | None = None


@dataclass(frozen=True)
class Initialized:
    """The repository ``init`` created."""

    id: str
    repository: str

    def to_dict(self) -> dict[str, Any]:
        return {"message_type": "initialized", "id": self.id, "repository": self.repository}


@operation("init", options=InitOptions, result=Initialized, mutates=True)
def init(ctx: OperationContext, options: InitOptions) -> Initialized:
    """Create a new repository (and its bucket or container when missing)."""
    backend_options = ctx.backend_options()
    if options.s3_object_lock_days:
        backend_options = backend_options.with_settings(
            {"s3_object_lock_days": options.s3_object_lock_days}
        )
    repo = storage.init_repository(
        ctx.url,
        options.passphrase,
        kdf=keys.kdf_of(options.kdf),
        pack_size_mib=options.pack_size_mib,
        backend_options=backend_options,
    )
    from keyark.audit.target import AuditTarget

    ctx.audit_targets.append(AuditTarget.of(repo, ctx))  # the init record goes there at once
    repo.close()
    return Initialized(repo.repo_id, ctx.url)
