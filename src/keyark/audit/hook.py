"""The catalogue's audit hook: one record per audited operation, fail-closed when asked.

Audited: every operation that changes the repository (``mutates``) or reads secret
content (``reads_secrets``), the audit log's own readers (:data:`AUDITED_READS`), every
operation an HTTP API principal runs (``Actor.principal``), and any operation that fails
on a wrong passphrase. Before an audited operation runs under
``audit.required``, the local directory must accept a file (else
:class:`~keyark.errors.AuditUnavailableError` and the operation does not run); after
it, a record that cannot be written is that error too (the operation ran). Without
``required`` a failed write is a warning.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Any

from keyark.audit.policy import AuditPolicy, configured_policy
from keyark.audit.record import canonical
from keyark.errors import AuditUnavailableError, Hint, KeyarkError
from keyark.events import Code

if TYPE_CHECKING:
    from keyark.context import OperationContext
    from keyark.ops.catalogue import Operation

#: Operations that only read but are audited all the same (reads of the audit log).
AUDITED_READS: frozenset[str] = frozenset({"audit_log", "audit_verify", "audit_export", "drill"})
#: Error codes recorded for every operation (a failed unlock).
ALWAYS_RECORDED: frozenset[str] = frozenset({"wrong_password"})
#: Option and result fields that name what an operation acted on.
TARGET_FIELDS: tuple[str, ...] = (
    "snapshot",
    "snapshots",
    "snapshot_id",
    "snapshot_ids",
    "slot",
    "slot_id",
    "agent",
    "agent_id",
    "task",
    "path",
    "paths",
    "host",
    "tags",
    "reason",
    "snapshots_rewritten",
    "bytes_removed",
)
_MAX_ITEMS = 100


def is_audited(operation: Operation[Any, Any], options: object = None) -> bool:
    """Whether this call of ``operation`` is recorded (a dry run changes nothing: not)."""
    if getattr(options, "dry_run", False) is True and not operation.reads_secrets:
        return False
    return operation.mutates or operation.reads_secrets or operation.name in AUDITED_READS


def _target_values(data: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in TARGET_FIELDS:
        value = data.get(name)
        if isinstance(value, str) and value:
            found[name] = value[:512]
        elif isinstance(value, int) and not isinstance(value, bool):
            found[name] = value
        elif isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
            found[name] = [item[:512] for item in value[:_MAX_ITEMS]]
    return found


class AuditHook:
    """The audit side of one catalogue call (see the module's docstring)."""

    def __init__(
        self, ctx: OperationContext, operation: Operation[Any, Any], options: object
    ) -> None:
        self._ctx = ctx
        self._name = operation.name
        self._options = options
        # Every operation an HTTP API principal runs is recorded (each request is audited).
        self.audited = is_audited(operation, options) or ctx.actor.principal is not None
        self._policy: AuditPolicy | None = None

    @classmethod
    def begin(
        cls, ctx: OperationContext, operation: Operation[Any, Any], options: object
    ) -> AuditHook:
        """The hook for this call; refuses (fail-closed) when the record could not be written."""
        hook = cls(ctx, operation, options)
        if hook.audited and hook.policy().required:
            from keyark.audit.local import probe

            try:
                probe(hook.policy().root())
            except OSError as error:
                raise AuditUnavailableError(
                    f"{operation.name} was not run: the audit log is required and its "
                    f"directory {hook.policy().root()} cannot be written ({error.strerror})",
                    hint=Hint.AUDIT_DIR,
                ) from None
        return hook

    def policy(self) -> AuditPolicy:
        """The audit settings (the context's, else the config file's; read once)."""
        if self._policy is None:
            self._policy = self._ctx.audit or configured_policy()
        return self._policy

    def finished(self, result: dict[str, Any]) -> None:
        """Record a success (raises under ``required`` when the record is not written)."""
        if self.audited:
            self._record("success", None, result, raise_errors=True)

    def failed(self, code: str) -> None:
        """Record a failure (never raises: the operation's own error goes on)."""
        if self.audited or code in ALWAYS_RECORDED:
            self._record("failure", code, {}, raise_errors=False)

    # ----------------------------------------------------------------- internals
    def _draft(self, result: str, code: str | None, shown: dict[str, Any]) -> dict[str, Any]:
        from keyark.audit.writer import now
        from keyark.ops.catalogue import describe_options

        described = describe_options(self._options)
        targets = self._ctx.audit_targets
        target = {**_target_values(described), **_target_values(shown)}
        target["repositories"] = sorted({t.repo_id for t in targets})
        actor = {**self._ctx.actor.to_dict(), "uid": os.getuid()}
        return {
            "time": now(),
            "operation": self._name,
            "result": result,
            "actor": actor,
            "target": target,
            "params_digest": "sha256:" + hashlib.sha256(canonical(described)).hexdigest(),
            "error_code": code,
        }

    def _record(
        self, result: str, code: str | None, shown: dict[str, Any], *, raise_errors: bool
    ) -> None:
        from keyark.audit.writer import write

        events = self._ctx.events
        try:
            policy = self.policy()
            url = self._ctx.config.repository.url if self._ctx.config is not None else None
            if getattr(self._options, "config", None) is not None:
                url = None  # a config file's operation acts on its own repositories
            report = write(policy, self._draft(result, code, shown), self._ctx.audit_targets, url)
        except (OSError, KeyarkError, ValueError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            message = f"the audit record of {self._name} could not be written ({reason})"
            if raise_errors and self._policy is not None and self._policy.required:
                raise AuditUnavailableError(
                    f"{self._name} ran, but {message}", hint=Hint.AUDIT_DIR
                ) from None
            events.warn(Code.AUDIT_UNWRITTEN, message)
            return
        for repo_id, reason in report.upload_failures:
            events.warn(
                Code.AUDIT_UPLOAD,
                f"the repository copy of the audit log was not written ({reason}); "
                "it is written with the next record",
                subject=repo_id[:8],
            )
        for repo_id, count in report.restored:
            events.warn(
                Code.AUDIT_RESTORED,
                f"the local audit log was missing; {count} records were restored "
                "from the repository copy",
                subject=repo_id[:8],
            )


def record_event(
    policy: AuditPolicy,
    operation: str,
    locations: list[str],
    actor: dict[str, Any],
    target: dict[str, Any] | None = None,
) -> None:
    """Record ``operation`` (``daemon start``, ``daemon stop``) for each repository
    location: held as pending until the next keyed write to it chains and uploads it.
    Never raises: a daemon does not stop over its audit record (OSError is logged by the
    caller's warning)."""
    from keyark.audit.writer import now, write

    draft: dict[str, Any] = {
        "time": now(),
        "operation": operation,
        "result": "success",
        "actor": {**actor, "uid": os.getuid()},
        "target": {**_target_values(target or {}), "repositories": []},
        "params_digest": "sha256:" + hashlib.sha256(canonical({})).hexdigest(),
        "error_code": None,
    }
    for location in locations:
        write(policy, dict(draft), [], location)


__all__ = [
    "ALWAYS_RECORDED",
    "AUDITED_READS",
    "TARGET_FIELDS",
    "AuditHook",
    "is_audited",
    "record_event",
]
