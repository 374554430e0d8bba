"""The FastAPI routes of :data:`keyark.server.routes.ROUTES`.

An operation route's parameters come from its options type (:mod:`keyark.server.inputs`):
query parameters for GET, a JSON body for POST, path parameters as the table says. Each
route depends on ``require(permission)``; a view's ``principal`` parameter receives it.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi import Path as PathParam
from pydantic import ConfigDict, create_model
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from keyark import ops
from keyark.access.permissions import Permission, Principal
from keyark.errors import UsageError
from keyark.server.dependencies import require, state_of
from keyark.server.downloads import stream_dump
from keyark.server.inputs import OperationInput, RequestField, operation_input
from keyark.server.problems import MEDIA_TYPE, PROBLEM_SCHEMA
from keyark.server.routes import PREFIX, ROUTES, RouteSpec

_PARAM = re.compile(r"{(\w+)}")
#: A path segment: any text but a slash or NUL.
_SEGMENT = Annotated[str, PathParam(pattern=r"^[^/\x00]+$", max_length=1024)]
_REPOSITORY = Annotated[
    str | None, Query(max_length=200, pattern=r"^[^\x00]*$", description="A repository name.")
]

_PROBLEM = {"content": {MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}}}
#: The error responses every route documents.
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": description, **_PROBLEM}
    for status, description in (
        (401, "Not authenticated"),
        (403, "Not allowed for this role"),
        (404, "Not found"),
        (409, "Conflict (a lock, a cancelled operation)"),
        (422, "Invalid input"),
        (429, "Rate limited (see Retry-After)"),
    )
}
_TASK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "operation", "status"],
    "properties": {
        "id": {"type": "string"},
        "operation": {"type": "string"},
        "status": {"type": "string", "enum": ["running", "succeeded", "failed", "cancelled"]},
    },
}


def build_router() -> APIRouter:
    """Every route of :data:`ROUTES`."""
    router = APIRouter(prefix=PREFIX)
    for spec in ROUTES:
        endpoint, responses, status = _endpoint(spec)
        router.add_api_route(
            spec.path,
            endpoint,
            methods=[spec.method],
            name=spec.name,
            operation_id=spec.name,
            summary=spec.summary,
            status_code=status,
            responses={**responses, **ERRORS},
            response_class=JSONResponse,
            tags=[spec.path.strip("/").split("/")[0]],
        )
    return router


def _endpoint(spec: RouteSpec) -> tuple[Any, dict[int | str, dict[str, Any]], int]:
    if spec.view is not None:
        return _view_endpoint(spec), {}, 200
    return _operation_endpoint(spec)


def _principal_parameter(spec: RouteSpec) -> inspect.Parameter:
    return inspect.Parameter(
        "principal",
        inspect.Parameter.KEYWORD_ONLY,
        default=Depends(require(spec.permission)),
        annotation=Principal,
    )


def _view_endpoint(spec: RouteSpec) -> Any:
    """The view with its ``principal`` parameter depending on the route's permission."""
    assert spec.view is not None
    function = spec.view
    signature = inspect.signature(function, eval_str=True)
    parameters = []
    for parameter in signature.parameters.values():
        if parameter.name == "principal":
            parameter = _principal_parameter(spec)
        elif parameter.name in _PARAM.findall(spec.path):
            parameter = parameter.replace(annotation=_SEGMENT)
        parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))

    def endpoint(**values: Any) -> Any:
        return function(**values)

    endpoint.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    endpoint.__doc__ = function.__doc__
    return endpoint


def _operation_endpoint(spec: RouteSpec) -> tuple[Any, dict[int | str, dict[str, Any]], int]:
    assert spec.operation is not None
    entry = ops.CATALOGUE[spec.operation]
    path_names = _PARAM.findall(spec.path)
    path_fields = {name: spec.path_fields.get(name, name) for name in path_names}
    hidden = spec.hidden | set(spec.fixed) | set(spec.server_values)
    made = operation_input(entry.options, frozenset(hidden))
    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [
        inspect.Parameter("request", keyword, annotation=Request),
        _principal_parameter(spec),
    ]
    parameters += [inspect.Parameter(name, keyword, annotation=_SEGMENT) for name in path_names]
    if spec.repository:
        parameters.append(
            inspect.Parameter("repository", keyword, default=None, annotation=_REPOSITORY)
        )
    fields = {
        name: field for name, field in made.fields.items() if name not in path_fields.values()
    }
    if spec.method == "GET":
        parameters += [_query_parameter(name, field) for name, field in fields.items()]
    else:
        parameters.append(_body_parameter(spec, fields))

    def endpoint(**values: Any) -> Response:
        request: Request = values.pop("request")
        principal: Principal = values.pop("principal")
        repository: str | None = values.pop("repository", None)
        body = values.pop("body", None)
        if body is not None:
            values.update(body.model_dump())
        for name, field_name in path_fields.items():
            values[field_name] = values.pop(name)
        return _answer(spec, made, request, principal, repository, values)

    endpoint.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    endpoint.__doc__ = (
        f"{entry.summary}\n\nOperation `{spec.operation}` (permission `{spec.permission}`)."
    )
    return endpoint, *_responses(spec)


def _answer(
    spec: RouteSpec,
    made: OperationInput,
    request: Request,
    principal: Principal,
    repository: str | None,
    values: dict[str, Any],
) -> Response:
    assert spec.operation is not None
    state = state_of(request)
    state.allow(principal, spec.operation)  # before any input is looked at
    fixed = dict(spec.fixed)
    if "config" in spec.server_values:
        fixed["config"] = state.config
    if "state_dir" in spec.server_values:
        fixed["state_dir"] = state.settings.state_dir
    if "names" in spec.server_values:  # file names only for who may see metadata
        fixed["names"] = principal.can(Permission.METADATA)
    options = made.build(values, fixed)
    if spec.operation == "restore":
        _check_restore_target(state.settings.restore_root, options)
    if spec.kind == "task":
        task = state.start(principal, spec.operation, options, repository)
        location = f"{PREFIX}/tasks/{task.id}"
        return JSONResponse(task.to_dict(), status_code=202, headers={"Location": location})
    if spec.kind == "stream":
        return stream_dump(state, principal, options, repository)
    result = state.run(principal, spec.operation, options, repository)
    if spec.kind == "text":
        return PlainTextResponse(result.to_dict()["text"], media_type="text/plain; version=0.0.4")
    return JSONResponse(result.to_dict())


def _annotated(kind: Any, marker: Any) -> Any:
    """``Annotated[kind, marker]`` of a type known only at run time."""
    return Annotated[kind, marker]


def _query_parameter(name: str, field: RequestField) -> inspect.Parameter:
    """A query parameter of a GET route (required when the option has no default)."""
    default = inspect.Parameter.empty if field.default is dataclasses.MISSING else field.default
    annotation = _annotated(field.annotation, Query())
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def _body_parameter(spec: RouteSpec, fields: dict[str, RequestField]) -> inspect.Parameter:
    """The JSON body of a POST route: one object of the fields (optional when none is
    required); unknown fields are refused."""
    definitions: dict[str, Any] = {
        name: (field.annotation, ... if field.default is dataclasses.MISSING else field.default)
        for name, field in fields.items()
    }
    model = create_model(_model_name(spec), __config__=ConfigDict(extra="forbid"), **definitions)
    if any(field.default is dataclasses.MISSING for field in fields.values()):
        return inspect.Parameter(
            "body", inspect.Parameter.KEYWORD_ONLY, annotation=_annotated(model, Body())
        )
    return inspect.Parameter(
        "body",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=_annotated(model | None, Body()),
    )


def _check_restore_target(root: Path | None, options: Any) -> None:
    """A restore target outside the server's restore root is refused (422)."""
    if root is None:
        return
    resolved = Path(options.target).resolve()  # a relative one: from the server's directory
    if not resolved.is_relative_to(root.resolve()):
        raise UsageError(f"restore target {options.target!r} is outside the server's restore root")


def _responses(spec: RouteSpec) -> tuple[dict[int | str, dict[str, Any]], int]:
    if spec.kind == "task":
        task = {
            "description": "The task started",
            "content": {"application/json": {"schema": _TASK_SCHEMA}},
        }
        return {202: task}, 202
    if spec.kind == "stream":
        binary = {"schema": {"type": "string", "format": "binary"}}
        content = {
            kind: binary
            for kind in ("application/octet-stream", "application/x-tar", "application/zip")
        }
        return {200: {"description": "The file or archive", "content": content}}, 200
    if spec.kind == "text":
        text = {"text/plain": {"schema": {"type": "string"}}}
        return {200: {"description": "Prometheus text format", "content": text}}, 200
    return {200: {"description": "The operation's result"}}, 200


def _model_name(spec: RouteSpec) -> str:
    return "".join(word.capitalize() for word in spec.name.split("_")) + "Request"


__all__ = ["ERRORS", "build_router"]
