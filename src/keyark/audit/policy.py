"""Where the audit log is kept locally, whether it is required, how long it is kept.

A face may set :attr:`OperationContext.audit`; otherwise the config file's ``audit``
section applies (read cheaply: only that section), else the defaults: not required,
kept 365 days, a signed checkpoint every 10 records, the local copy under
``<state dir>/audit``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keyark.errors import UsageError

#: Days audit records are kept at least (PCI DSS 10.5.1: twelve months).
DEFAULT_RETENTION_DAYS = 365
#: Records between two signed checkpoints of one writer.
DEFAULT_CHECKPOINT_EVERY = 10


@dataclass(frozen=True)
class AuditPolicy:
    """The audit log's settings for one operation."""

    #: Refuse to run an operation whose record cannot be written (fail-closed).
    required: bool = False
    #: The local copy's directory; None: ``<state dir>/audit``.
    directory: Path | None = None
    retention_days: int = DEFAULT_RETENTION_DAYS
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY

    def root(self) -> Path:
        """The local copy's directory in use."""
        if self.directory is not None:
            return self.directory
        from keyark.state.runs import default_state_dir

        return default_state_dir() / "audit"

    @classmethod
    def from_section(cls, section: Any) -> AuditPolicy:
        """The policy of a config file's ``audit`` section (an ``AuditSection``)."""
        directory = Path(section.local_dir).expanduser() if section.local_dir else None
        return cls(
            required=section.required,
            directory=directory,
            retention_days=max(1, int(section.retention.total_seconds() // 86400)),
            checkpoint_every=section.checkpoint_every,
        )


def configured_policy() -> AuditPolicy:
    """The ``audit`` section of the config file found (defaults when there is none).

    Only that section is read and checked: a problem elsewhere in the file is the
    business of the verbs that use it.
    """
    from keyark.config.loading import config_kind, find_config_file

    path = find_config_file(None)
    if path is None:
        return AuditPolicy()
    from pydantic import ValidationError

    from keyark.config.document import AuditSection
    from keyark.config.positions import DocumentSyntaxError, parse_document

    try:
        document, _lines = parse_document(path.read_text(encoding="utf-8"), config_kind(path))
    except (OSError, UnicodeDecodeError, DocumentSyntaxError) as error:
        raise UsageError(f"cannot read the audit settings of {path}: {error}") from None
    raw = document.get("audit") if isinstance(document, dict) else None
    try:
        section = AuditSection.model_validate(raw or {})
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise UsageError(f"{path}: audit.{where}: {first['msg']}") from None
    return AuditPolicy.from_section(section)


__all__ = ["DEFAULT_CHECKPOINT_EVERY", "DEFAULT_RETENTION_DAYS", "AuditPolicy", "configured_policy"]
