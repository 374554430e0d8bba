"""The REST API through httpx against a real uvicorn on loopback: every route, problem
shapes, tasks and their server-sent events, cancel, visibility, audit, secrets."""

from __future__ import annotations

import io
import json
import tarfile
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import PASSWORD
from tests.server_fixtures import ApiServer, api_server, api_server_at

from keyark.server.problems import MEDIA_TYPE
from keyark.server.routes import ROUTES

__all__ = ["api_server"]  # the fixture, used by name


def problem_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response's problem document, checked for RFC 9457's shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(MEDIA_TYPE)
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "code", "hint"} <= set(body)
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith("/" + code)
    return body


def sse_events(
    server: ApiServer, task_id: str, role: str = "admin", last_event_id: int | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """Every (event, data) of the task's event stream, read to its end."""
    found: list[tuple[str, dict[str, Any]]] = []
    headers = server.headers(role)
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    url = f"{server.url}/api/v1/tasks/{task_id}/events"
    with server.client.stream("GET", url, headers=headers, timeout=120) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[len("event: ") :]
            elif line.startswith("data: "):
                found.append((kind, json.loads(line[len("data: ") :])))
    return found


def test_every_route_answers(api_server: ApiServer, tmp_path: Path) -> None:
    """Each route of the table, once, as an admin: the expected status, never a 5xx."""
    data = str(tmp_path / "data")
    out = str(tmp_path / "out")
    snapshot = api_server.get("/api/v1/snapshots").json()["snapshots"][0]["id"]
    check = api_server.post("/api/v1/check", json={})
    assert check.status_code == 202
    task_id = check.json()["id"]
    api_server.wait_task(task_id)
    calls: dict[tuple[str, str], tuple[dict[str, Any], int]] = {
        ("GET", "/repositories"): ({}, 200),
        ("GET", "/jobs"): ({}, 200),
        ("GET", "/history"): ({"params": {"job": "nightly"}}, 200),
        ("POST", "/jobs/{job}/run"): ({"url": "/jobs/nightly/run", "json": {"dry_run": True}}, 202),
        ("GET", "/snapshots"): ({"params": {"hosts": []}}, 200),
        ("GET", "/snapshots/{snapshot}/ls"): ({"url": f"/snapshots/{snapshot}/ls"}, 200),
        ("GET", "/snapshots/{snapshot}/inventory"): ({"url": "/snapshots/latest/inventory"}, 200),
        ("GET", "/find"): ({"params": {"pattern": "*.pem"}}, 200),
        ("GET", "/diff"): ({"params": {"first": snapshot, "second": "latest"}}, 200),
        ("GET", "/stats"): ({}, 200),
        ("POST", "/restore"): ({"json": {"target": out, "snapshot": snapshot}}, 202),
        ("GET", "/snapshots/{snapshot}/dump"): (
            {"url": "/snapshots/latest/dump", "params": {"path": data + "/hello.txt"}}, 200),
        ("POST", "/check"): ({"json": {"read_data": True}}, 202),
        ("POST", "/forget"): ({"json": {"keep_last": 5, "dry_run": True}}, 202),
        ("POST", "/prune"): ({"json": {"dry_run": True}}, 202),
        ("GET", "/keys"): ({}, 200),
        ("GET", "/keys/status"): ({}, 200),
        ("GET", "/agents"): ({}, 200),
        ("GET", "/health"): ({}, 200),
        ("GET", "/alerts"): ({}, 200),
        ("GET", "/metrics"): ({}, 200),
        ("GET", "/audit/log"): ({}, 200),
        ("GET", "/audit/verify"): ({}, 200),
        ("GET", "/compliance"): ({"params": {"standard": "gdpr"}}, 200),
        ("GET", "/tasks"): ({}, 200),
        ("GET", "/tasks/{task_id}"): ({"url": f"/tasks/{task_id}"}, 200),
        ("GET", "/tasks/{task_id}/events"): ({"url": f"/tasks/{task_id}/events"}, 200),
        ("DELETE", "/tasks/{task_id}"): ({"url": f"/tasks/{task_id}"}, 200),
    }  # fmt: skip
    assert set(calls) == {(spec.method, spec.path) for spec in ROUTES}
    started = []
    for (method, path), (kwargs, status) in calls.items():
        kwargs = dict(kwargs)
        url = "/api/v1" + kwargs.pop("url", path)
        response = api_server.request(method, url, **kwargs)
        assert response.status_code == status, (method, path, response.text)
        if status == 202:
            assert response.headers["location"] == f"/api/v1/tasks/{response.json()['id']}"
            started.append(response.json()["id"])
    for started_id in started:
        assert api_server.wait_task(started_id)["status"] == "succeeded", started_id
    assert (tmp_path / "out" / data.lstrip("/") / "hello.txt").read_text() == "hello server\n"


def test_results_match_the_catalogue(api_server: ApiServer) -> None:
    """A route returns the operation's result document; metrics are Prometheus text."""
    listed = api_server.get("/api/v1/snapshots", params={"latest": 1}).json()
    assert len(listed["snapshots"]) == 1
    assert (
        api_server.get("/api/v1/snapshots", params={"hosts": ["no-such-host"]}).json()["snapshots"]
        == []
    )
    metrics = api_server.get("/api/v1/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "keyark_job_last_success_timestamp_seconds" in metrics.text
    jobs = api_server.get("/api/v1/jobs").json()
    assert jobs[0]["name"] == "nightly" and jobs[0]["last_run"]["status"] == "success"


def test_problem_documents(api_server: ApiServer) -> None:
    """401, 403, 404, 422 as problem+json with the core's code and hint."""
    anonymous = problem_of(api_server.get("/api/v1/snapshots", role=None), 401, "unauthenticated")
    assert anonymous["hint"] == "authenticate"
    wrong = api_server.get("/api/v1/snapshots", role=None, headers={"Authorization": "Bearer x"})
    problem_of(wrong, 401, "unauthenticated")
    denied = problem_of(api_server.get("/api/v1/snapshots", role="viewer"), 403, "forbidden")
    assert denied["hint"] == "permission"
    assert "metadata" in denied["detail"]
    problem_of(api_server.post("/api/v1/forget", role="operator", json={}), 403, "forbidden")
    missing = problem_of(api_server.get("/api/v1/snapshots/beef/ls"), 404, "snapshot_not_found")
    assert missing["hint"] == "snapshots"
    problem_of(api_server.get("/api/v1/tasks/nope"), 404, "unknown_resource")
    problem_of(
        api_server.get("/api/v1/snapshots", params={"repository": "x"}), 404, "unknown_resource"
    )
    problem_of(api_server.get("/api/v1/no-such-route"), 404, "not_found")
    bad_query = problem_of(
        api_server.get("/api/v1/snapshots", params={"latest": "-1"}), 422, "invalid_input"
    )
    assert bad_query["errors"][0]["loc"] == ["query", "latest"]
    problem_of(
        api_server.post("/api/v1/check", json={"read_data": True, "x": 1}), 422, "invalid_input"
    )
    problem_of(
        api_server.post(
            "/api/v1/check", content=b"{", headers={"content-type": "application/json"}
        ),
        422,
        "invalid_input",
    )
    problem_of(api_server.get("/api/v1/find"), 422, "usage")  # no pattern
    usage = problem_of(api_server.post("/api/v1/prune", json={"max_unused": "lots"}), 422, "usage")
    assert "unused limit" in usage["detail"]
    problem_of(api_server.post("/api/v1/forget", json={"keep_within": "soon"}), 422, "usage")
    problem_of(
        api_server.get("/api/v1/snapshots", params={"paths": "a\x00b"}), 422, "invalid_input"
    )
    problem_of(api_server.request("PUT", "/api/v1/snapshots"), 405, "method_not_allowed")


def test_task_progress_and_event_stream(api_server: ApiServer) -> None:
    """A check runs as a task: 202, then its events over SSE (past ones replayed, in
    order, ending with ``end``), its status with progress and result."""
    started = api_server.post("/api/v1/check", json={"read_data": True})
    assert started.status_code == 202
    task = started.json()
    assert task["operation"] == "check" and task["principal"] == "token:admin"
    events = sse_events(api_server, task["id"])
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "started" and kinds[-2:] == ["finished", "end"]
    assert "progress" in kinds
    assert events[-1][1]["status"] == "succeeded"
    done = api_server.get(f"/api/v1/tasks/{task['id']}").json()
    assert done["status"] == "succeeded" and done["result"]["ok"] is True
    assert done["progress"]["event"] == "progress"
    assert done["events"] == len(events) - 1
    # a second reader after the end gets the same replay; a reconnecting one the rest
    assert [kind for kind, _ in sse_events(api_server, task["id"])] == kinds
    rest = sse_events(api_server, task["id"], last_event_id=len(kinds) - 3)
    assert [kind for kind, _ in rest] == kinds[-2:]


def test_failed_task_reports_code_and_hint(api_server: ApiServer, tmp_path: Path) -> None:
    started = api_server.post(
        "/api/v1/restore", json={"target": str(tmp_path / "o"), "snapshot": "beef"}
    )
    done = api_server.wait_task(started.json()["id"])
    assert done["status"] == "failed"
    assert done["error"]["code"] == "snapshot_not_found" and done["error"]["hint"] == "snapshots"


def test_cancel_a_running_task(tmp_path: Path) -> None:
    """DELETE cancels through the task's token: the job's command is stopped and the task
    ends cancelled (positive control: the same job left alone is still running)."""
    marker = tmp_path / "command-started"
    slow = {"repository": "main", "commands": [
        {"path": "slow.txt", "run": f"touch {marker}; sleep 60; echo late"}]}  # fmt: skip
    jobs = {"nightly": {"repository": "main", "sources": [str(tmp_path / "data")]}, "slow": slow}
    with api_server_at(tmp_path, jobs=jobs) as server:
        started = server.post("/api/v1/jobs/slow/run", json={})
        assert started.status_code == 202
        task_id = started.json()["id"]
        _wait_for(marker)
        headers = server.headers("admin")
        url = f"{server.url}/api/v1/tasks/{task_id}/events"
        kinds: list[str] = []
        with server.client.stream("GET", url, headers=headers, timeout=60) as stream:
            lines = stream.iter_lines()
            for line in lines:  # the replayed start, while the job still runs
                if line.startswith("event: "):
                    kinds.append(line[len("event: ") :])
                    if kinds[-1] == "started":
                        break
            assert server.get(f"/api/v1/tasks/{task_id}").json()["status"] == "running"
            cancelled = server.request("DELETE", f"/api/v1/tasks/{task_id}")
            assert cancelled.status_code == 200
            kinds += [line[len("event: ") :] for line in lines if line.startswith("event: ")]
        assert kinds[0] == "started" and kinds[-1] == "end"  # live events up to the end
        done = server.get(f"/api/v1/tasks/{task_id}").json()
        assert done["status"] == "cancelled", done
        assert done["error"]["code"] == "cancelled"
        assert done["ended"] - done["created"] < 30  # the 60 s command did not run out
        history = server.get("/api/v1/history", params={"job": "slow"}).json()
        assert history[-1]["status"] == "failed"


def _wait_for(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_tasks_are_private_to_their_principal(api_server: ApiServer) -> None:
    """An operator's task is invisible to other principals (404), visible to an admin."""
    task_id = api_server.post("/api/v1/check", role="operator", json={}).json()["id"]
    api_server.wait_task(task_id, role="operator")
    assert [task["id"] for task in api_server.get("/api/v1/tasks", role="operator").json()] == [
        task_id
    ]
    assert api_server.get("/api/v1/tasks", role="viewer").json() == []
    problem_of(api_server.get(f"/api/v1/tasks/{task_id}", role="viewer"), 404, "unknown_resource")
    # Cancelling needs the run permission (and, below admin, the task must be its own).
    problem_of(
        api_server.request("DELETE", f"/api/v1/tasks/{task_id}", role="auditor"), 403, "forbidden"
    )
    assert api_server.get(f"/api/v1/tasks/{task_id}", role="admin").status_code == 200


def test_dump_streams_archives(api_server: ApiServer, tmp_path: Path) -> None:
    """A directory as tar or zip, a file as its bytes; an error before any byte is a problem."""
    data = str(tmp_path / "data")
    tar = api_server.get("/api/v1/snapshots/latest/dump", params={"path": data})
    assert tar.headers["content-type"] == "application/x-tar"
    names = tarfile.open(fileobj=io.BytesIO(tar.content)).getnames()
    assert data.lstrip("/") + "/sub/key.pem" in names
    zipped = api_server.get(
        "/api/v1/snapshots/latest/dump", params={"path": data, "archive": "zip"}
    )
    assert zipped.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(zipped.content))
    assert any(name.endswith("sub/key.pem") for name in archive.namelist())
    single = api_server.get("/api/v1/snapshots/latest/dump", params={"path": data + "/hello.txt"})
    assert single.content == b"hello server\n"
    assert 'filename="hello.txt"' in single.headers["content-disposition"]
    assert (
        api_server.get(
            "/api/v1/snapshots/latest/dump", role="auditor", params={"path": data}
        ).status_code
        == 403
    )
    missing = api_server.get("/api/v1/snapshots/latest/dump", params={"path": data + "/nope"})
    assert missing.status_code in {404, 422} and missing.headers["content-type"].startswith(
        MEDIA_TYPE
    )


def test_restore_root_confines_targets(tmp_path: Path) -> None:
    root = tmp_path / "restores"
    root.mkdir()
    with api_server_at(tmp_path, restore_root=root) as server:
        outside = server.post("/api/v1/restore", json={"target": str(tmp_path / "elsewhere")})
        problem_of(outside, 422, "usage")
        sneaky = server.post("/api/v1/restore", json={"target": str(root / ".." / "escape")})
        problem_of(sneaky, 422, "usage")
        inside = server.post("/api/v1/restore", json={"target": str(root / "one")})
        assert inside.status_code == 202
        assert server.wait_task(inside.json()["id"])["status"] == "succeeded"
    assert not (tmp_path / "elsewhere").exists() and not (tmp_path / "escape").exists()
    assert any((root / "one").rglob("hello.txt"))


def test_audit_records_principal_and_refusals(api_server: ApiServer) -> None:
    """Operations run with the principal as the actor; refused requests are recorded."""
    assert api_server.get("/api/v1/snapshots", role="viewer").status_code == 403
    assert api_server.get("/api/v1/snapshots", role=None).status_code == 401
    # A read-only request is audited too (a `snapshots` run outside the API is not).
    assert api_server.get("/api/v1/snapshots", role="auditor").status_code == 200
    task_id = api_server.post("/api/v1/jobs/nightly/run", role="operator", json={}).json()["id"]
    assert api_server.wait_task(task_id, role="operator")["status"] == "succeeded"
    records = api_server.get("/api/v1/audit/log").json()["records"]
    principals = {(r["operation"], r["actor"].get("principal")) for r in records}
    assert ("backup", "token:operator") in principals
    assert ("snapshots", "token:auditor") in principals
    assert all(r["actor"].get("principal") for r in records if r["operation"] == "snapshots")
    refused = [r for r in records if r["operation"] == "server refused"]
    targets = [r["target"].get("path", "") for r in refused]
    assert any("GET /api/v1/snapshots refused: forbidden" in t for t in targets), refused
    assert any("refused: unauthenticated" in t for t in targets), refused
    assert {r["actor"].get("principal") for r in refused} >= {"token:viewer", "anonymous"}


def test_no_secret_in_any_answer(api_server: ApiServer, tmp_path: Path) -> None:
    """No route returns the repository passphrase (positive control: the secret is in the
    password file the config names)."""
    assert PASSWORD in (tmp_path / "password").read_text()
    for spec in ROUTES:
        if spec.method != "GET" or "{" in spec.path or spec.path == "/find" or spec.path == "/diff":
            continue
        response = api_server.get("/api/v1" + spec.path)
        assert PASSWORD not in response.text, spec.path
    spec_text = api_server.get("/api/v1/openapi.json", role=None).text
    assert PASSWORD not in spec_text


def test_openapi_document(api_server: ApiServer) -> None:
    """OpenAPI 3.1 at /api/v1/openapi.json (public), docs at /api/docs; one operation per route."""
    document = api_server.get("/api/v1/openapi.json", role=None).json()
    assert document["openapi"].startswith("3.1")
    for spec in ROUTES:
        operation = document["paths"][spec.full_path][spec.method.lower()]
        assert operation["operationId"] == spec.name
        assert "application/problem+json" in operation["responses"]["403"]["content"]
    restore = document["paths"]["/api/v1/restore"]["post"]
    assert restore["responses"]["202"]
    assert api_server.get("/api/docs", role=None).status_code == 200


@pytest.mark.parametrize("role", ["viewer", "auditor", "operator", "admin"])
def test_run_needs_the_run_permission(api_server: ApiServer, role: str) -> None:
    response = api_server.post("/api/v1/jobs/nightly/run", role=role, json={"dry_run": True})
    assert response.status_code == (202 if role in {"operator", "admin"} else 403)


def test_health_needs_no_repository_secret(api_server: ApiServer, tmp_path: Path) -> None:
    """Config-wide routes open no repository themselves: with the passphrase file gone the
    health checks still answer, while a repository route cannot open it (the control)."""
    (tmp_path / "password").unlink()
    assert api_server.get("/api/v1/health").status_code == 200
    assert api_server.get("/api/v1/alerts").status_code == 200
    refused = api_server.get("/api/v1/snapshots")
    assert 400 <= refused.status_code < 500, refused.text
    assert refused.headers["content-type"].startswith(MEDIA_TYPE)


def test_viewer_sees_health_verdicts_without_file_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The certificate check names the expiring file for an auditor, not for a viewer (who
    may see health but no names); the level is the same for both."""
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from tests.inventory_corpus import make_certificate

    now = datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    start, end = now - timedelta(days=30), now + timedelta(days=3)
    leaf = make_certificate(
        "expiring.example", key.public_key(), key, not_before=start, not_after=end
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "expiring-leaf.crt").write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM)
    )
    monkeypatch.setenv("KEYARK_STATE_DIR", str(tmp_path / "state"))
    with api_server_at(tmp_path) as server:

        def certificates(role: str) -> dict[str, Any]:
            results = server.get("/api/v1/health", role=role).json()["results"]
            return next(r for r in results if r["check"] == "certificates")

        seen, hidden = certificates("auditor"), certificates("viewer")
        assert "expiring-leaf.crt" in seen["message"]  # positive control: it is named
        assert "expiring-leaf.crt" not in hidden["message"]
        assert hidden["level"] == seen["level"] != "OK"
