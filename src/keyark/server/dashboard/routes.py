"""The dashboard's pages: each route names its permission and its data (see
:mod:`keyark.server.dashboard.page` for how a page is answered)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from keyark.access.permissions import Permission
from keyark.server.dashboard import jobs, overview, records, snapshots
from keyark.server.dashboard.download import download
from keyark.server.dashboard.page import answer, render, show

if TYPE_CHECKING:
    from keyark.access.permissions import Principal
    from keyark.server.state import ServerState

router = APIRouter(include_in_schema=False)


@router.get("/")
def overview_page(request: Request) -> Response:
    """Every job, health checks, open alerts, key age, expiring certificates."""
    return show(request, "overview.html", Permission.HEALTH, overview.overview)


@router.get("/jobs/{name}")
def job_page(request: Request, name: str) -> Response:
    """A job's run history chart and the logs of its last runs."""
    return show(
        request, "job.html", Permission.HEALTH, lambda state, _p: jobs.job_detail(state, name)
    )


@router.post("/jobs/{name}/run")
async def run_job(request: Request, name: str) -> Response:
    """Run a job now; the task's page follows its progress."""
    await request.form()  # parsed here, so the CSRF check can read its field

    def respond(state: ServerState, principal: Principal) -> Response:
        task_id = jobs.start_run(state, principal, name)
        return RedirectResponse(f"/tasks/{task_id}", status_code=303)

    return await run_in_threadpool(answer, request, Permission.RUN, respond, csrf=True)


@router.get("/tasks/{task_id}")
def task_page(request: Request, task_id: str) -> Response:
    """A task's live progress (the progress part reloads itself while it runs)."""
    return show(request, "task.html", Permission.HEALTH, jobs.task_view, task_id)


@router.get("/tasks/{task_id}/progress")
def task_progress(request: Request, task_id: str) -> Response:
    """The progress part of a task's page (polled by htmx while the task runs)."""

    def respond(state: ServerState, principal: Principal) -> Response:
        data = jobs.task_view(state, principal, task_id)
        return render(request, "task_progress.html", data, principal)

    return answer(request, Permission.HEALTH, respond)


@router.get("/alerts")
def alerts_page(request: Request, level: str | None = None) -> Response:
    """The alert history, filtered by level."""
    return show(request, "alerts.html", Permission.HEALTH, records.alerts, level)


@router.get("/snapshots")
def snapshots_page(
    request: Request,
    repo: str | None = None,
    host: str | None = None,
    tag: str | None = None,
    path: str | None = None,
) -> Response:
    """The snapshots, filtered by host, tag and path."""
    return show(
        request,
        "snapshots.html",
        Permission.METADATA,
        snapshots.snapshot_list,
        repo,
        host=host,
        tag=tag,
        path=path,
    )


@router.get("/snapshots/{snapshot}/tree")
def tree_page(
    request: Request, snapshot: str, path: str = "/", repo: str | None = None
) -> Response:
    """A directory of a snapshot: its children, with downloads when the role allows."""
    return show(request, "tree.html", Permission.METADATA, snapshots.tree, repo, snapshot, path)


@router.get("/snapshots/{snapshot}/download")
def download_route(
    request: Request, snapshot: str, path: str, archive: str = "tar", repo: str | None = None
) -> Response:
    """A file of a snapshot, or a directory as a tar or zip archive."""
    return answer(
        request,
        Permission.RESTORE,
        lambda state, principal: download(state, principal, repo, snapshot, path, archive),
    )


@router.get("/inventory")
def inventory_page(
    request: Request,
    repo: str | None = None,
    snapshot: str = "latest",
    expiring: str | None = None,
) -> Response:
    """The keys and certificates of a snapshot."""
    return show(
        request,
        "inventory.html",
        Permission.METADATA,
        snapshots.inventory,
        repo,
        snapshot=snapshot,
        expiring=expiring,
    )


@router.get("/audit")
def audit_page(
    request: Request,
    repo: str | None = None,
    actor: str | None = None,
    operation: str | None = None,
) -> Response:
    """The audit log, filtered by actor and operation."""
    return show(
        request,
        "audit.html",
        Permission.AUDIT,
        records.audit,
        repo,
        actor=actor,
        operation=operation,
    )


@router.get("/compliance")
def compliance_page(
    request: Request, repo: str | None = None, standard: str | None = None
) -> Response:
    """The compliance report of a standard."""
    return show(request, "compliance.html", Permission.AUDIT, records.compliance, repo, standard)


@router.get("/keys")
def keys_page(request: Request, repo: str | None = None) -> Response:
    """Key slots, key ages and rotation (administrators)."""
    return show(request, "keys.html", Permission.ADMIN, records.keys, repo)


@router.get("/agents")
def agents_page(request: Request, repo: str | None = None) -> Response:
    """Registered agents (administrators)."""
    return show(request, "agents.html", Permission.ADMIN, records.agents, repo)


__all__ = ["router"]
