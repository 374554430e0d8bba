"""Key rotation: ``key status`` (data-key epochs) and ``key rotate`` (data key, root key,
re-encryption). The pipelines live in :mod:`keyark.maintenance.rotate` and
:mod:`keyark.maintenance.root_rotation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keyark.context import OperationContext
from keyark.maintenance import rotate as data_keys
from keyark.maintenance.root_rotation import RootRotationSummary as RootRotationSummary
from keyark.maintenance.root_rotation import rotate_root
from keyark.maintenance.rotate import Epoch as Epoch
from keyark.maintenance.rotate import KeyStatus as KeyStatus
from keyark.maintenance.rotate import ReencryptSummary as ReencryptSummary
from keyark.ops.catalogue import operation
from keyark.ops.session import opened


@dataclass(frozen=True)
class KeyStatusOptions:
    """``key status`` takes no options."""


@operation("key status", options=KeyStatusOptions, result=KeyStatus, mutates=False)
def key_status(ctx: OperationContext, options: KeyStatusOptions) -> KeyStatus:
    """Show each data-key epoch and when rotation is due."""
    with opened(ctx) as repo:
        return data_keys.key_status(repo)


@dataclass(frozen=True)
class RotateOptions:
    """What to rotate: always a fresh data key; ``root`` also the keyring key KR;
    ``reencrypt`` then rewrites everything sealed with retired keys and deletes them."""

    reencrypt: bool = False
    root: bool = False


@dataclass(frozen=True)
class Rotation:
    """What ``key rotate`` did: the current data key, and the root rotation and
    re-encryption when asked for."""

    current: str
    root: RootRotationSummary | None = None
    reencrypt: ReencryptSummary | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_type": "rotated",
            "current": self.current,
            "root": None if self.root is None else self.root.to_dict(),
            "reencrypt": None if self.reencrypt is None else self.reencrypt.to_dict(),
        }


@operation("key rotate", options=RotateOptions, result=Rotation, mutates=True)
def key_rotate(ctx: OperationContext, options: RotateOptions) -> Rotation:
    """Make a new data key current (retired keys only decrypt); optionally replace the
    keyring key and re-encrypt everything under the new data key."""
    with opened(ctx) as repo:
        root = None
        if options.root:
            root = rotate_root(repo, ctx=ctx, reencrypt_next=options.reencrypt)
        summary = data_keys.reencrypt(repo, ctx=ctx) if options.reencrypt else None
        if summary is not None:
            current = summary.target_key
        elif root is not None:
            current = root.data_key
        else:
            current = data_keys.rotate(repo, ctx=ctx)
        return Rotation(current, root, summary)
