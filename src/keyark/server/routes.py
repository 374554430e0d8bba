"""The API's route table: every route under ``/api/v1``, with its operation and permission.

Each :class:`RouteSpec` names a catalogue operation (its request fields come from the
operation's options type, its permission from
:func:`keyark.access.permissions.permission_for`) or, for routes that are not one
operation (tasks, the run history, the config's repositories and jobs), a view of
:mod:`keyark.server.views`. :mod:`keyark.server.router` builds the FastAPI routes from
this table, so the role tests can walk :data:`ROUTES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from keyark.access.permissions import Permission, permission_for
from keyark.server import views

PREFIX = "/api/v1"

#: How a route answers: the result's JSON (``result``), 202 and a task (``task``), a
#: byte stream (``stream``), Prometheus text (``text``), or a view's own answer (``view``).
Kind = Literal["result", "task", "stream", "text", "view"]


@dataclass(frozen=True)
class RouteSpec:
    """One route of the API."""

    method: str
    #: The path under ``/api/v1`` (``/snapshots/{snapshot}/ls``).
    path: str
    #: The catalogue operation it runs (None: a view).
    operation: str | None
    permission: Permission
    kind: Kind
    summary: str
    #: The view function (``kind == "view"``).
    view: Callable[..., Any] | None = None
    #: Path parameter -> the option field it fills (when the names differ).
    path_fields: dict[str, str] = field(default_factory=dict)
    #: Option values the server sets (never request fields).
    fixed: dict[str, Any] = field(default_factory=dict)
    #: Option fields the server fills from its state: ``config``, ``state_dir``.
    server_values: tuple[str, ...] = ()
    #: Option fields left at their defaults (never request fields).
    hidden: frozenset[str] = frozenset()
    #: Whether the route takes a ``repository`` query parameter (a name of the config).
    repository: bool = True

    @property
    def full_path(self) -> str:
        """The path with the ``/api/v1`` prefix."""
        return PREFIX + self.path

    @property
    def name(self) -> str:
        """The OpenAPI operation id: ``get_snapshots``, ``post_jobs_task_run`` ..."""
        words = [word.strip("{}") for word in self.path.split("/") if word]
        return "_".join([self.method.lower(), *words]).replace("-", "_")


def op(
    method: str, path: str, operation: str, kind: Kind = "result", summary: str = "", **more: Any
) -> RouteSpec:
    """A route that runs catalogue operation ``operation`` (its permission comes from it)."""
    return RouteSpec(method, path, operation, permission_for(operation), kind, summary, **more)


def view(
    method: str, path: str, function: Callable[..., Any], permission: Permission, summary: str
) -> RouteSpec:
    """A route answered by a view (not one catalogue operation)."""
    return RouteSpec(
        method, path, None, permission, "view", summary, view=function, repository=False
    )


_CONFIG = ("config", "state_dir")

ROUTES: list[RouteSpec] = [
    # the config
    view("GET", "/repositories", views.repositories, Permission.METADATA,
         "The repositories of the config file (names and locations)."),
    view("GET", "/jobs", views.jobs, Permission.HEALTH,
         "The jobs of the config file, each with its last run."),
    view("GET", "/history", views.history, Permission.HEALTH,
         "The run history of jobs and maintenance tasks, oldest first."),
    op("POST", "/jobs/{job}/run", "run", "task", "Run a job (or a maintenance task) now.",
       path_fields={"job": "task"}, fixed={"trigger": "api"}, server_values=_CONFIG,
       repository=False),
    # snapshots and their contents' names
    op("GET", "/snapshots", "snapshots", summary="List snapshots."),
    op("GET", "/snapshots/{snapshot}/ls", "ls", summary="List the entries of a snapshot."),
    op("GET", "/snapshots/{snapshot}/inventory", "inventory",
       summary="The key and certificate inventory of a snapshot."),
    op("GET", "/find", "find", summary="Find files in snapshots by name pattern."),
    op("GET", "/diff", "diff", summary="Compare two snapshots."),
    op("GET", "/stats", "stats", summary="Repository statistics."),
    # file contents
    op("POST", "/restore", "restore", "task", "Restore a snapshot to a directory on the server.",
       hidden=frozenset({"report_items"})),
    op("GET", "/snapshots/{snapshot}/dump", "dump", "stream",
       "Download a file, or a directory as a tar or zip archive.", hidden=frozenset({"target"})),
    # maintenance
    op("POST", "/check", "check", "task", "Check the repository's integrity."),
    op("POST", "/forget", "forget", "task", "Forget snapshots by a retention policy or ids."),
    op("POST", "/prune", "prune", "task", "Remove data no snapshot uses."),
    # keys and agents
    op("GET", "/keys", "key list", summary="The repository's key slots."),
    op("GET", "/keys/status", "key status", summary="Key ages and rotation status."),
    op("GET", "/agents", "agent list", summary="The registered write-only agents."),
    # health, alerts, metrics
    op("GET", "/health", "monitor check", summary="Run the health checks now.",
       fixed={"record": False, "notify": False}, server_values=(*_CONFIG, "names"),
       repository=False),
    op("GET", "/alerts", "monitor alerts", summary="The alert history.",
       server_values=(*_CONFIG, "names"), repository=False),
    op("GET", "/metrics", "metrics", "text", "Prometheus metrics (text format).",
       server_values=_CONFIG, repository=False),
    # audit and compliance
    op("GET", "/audit/log", "audit_log", summary="The audit log, oldest first."),
    op("GET", "/audit/verify", "audit_verify", summary="Verify the audit log's chains.",
       fixed={"restore_local": False}),
    op("GET", "/compliance", "compliance report", summary="The compliance report.",
       server_values=_CONFIG),
    # tasks
    view("GET", "/tasks", views.tasks, Permission.HEALTH,
         "The tasks of the caller (every task for an admin)."),
    view("GET", "/tasks/{task_id}", views.task, Permission.HEALTH,
         "A task's status, progress and result."),
    view("GET", "/tasks/{task_id}/events", views.task_events, Permission.HEALTH,
         "A task's events as server-sent events: the past ones, then live ones."),
    view("DELETE", "/tasks/{task_id}", views.cancel_task, Permission.RUN,
         "Cancel a running task."),
]  # fmt: skip


__all__ = ["PREFIX", "ROUTES", "Kind", "RouteSpec", "op", "view"]
