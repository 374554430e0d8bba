"""The snapshot browser's data: snapshots filtered by host, tag and path; a directory of
a snapshot with its children; the key and certificate inventory of a snapshot."""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any

from keyark import ops
from keyark.errors import UnknownResourceError

if TYPE_CHECKING:
    from keyark.access.permissions import Principal
    from keyark.server.state import ServerState


def repository_choice(state: ServerState, name: str | None) -> str | None:
    """The repository a page shows (None: the server's default); unknown names refused."""
    if name in (None, ""):
        return None
    if name not in state.config.repositories:
        raise UnknownResourceError(f"the config has no repository {name!r}")
    return name


def repository_picker(state: ServerState, repository: str | None) -> dict[str, Any]:
    """What a page's repository picker shows: the chosen name ("" for the server's
    default) and every repository of the config."""
    return {"repository": repository or "", "repositories": list(state.config.repositories)}


def _words(text: str | None) -> list[str]:
    """Comma- or space-separated filter values."""
    return [word for word in (text or "").replace(",", " ").split() if word]


def snapshot_list(
    state: ServerState,
    principal: Principal,
    repository: str | None,
    *,
    host: str | None = None,
    tag: str | None = None,
    path: str | None = None,
) -> dict[str, Any]:
    """The snapshots page: the snapshots matching the filter, newest first."""
    selection = ops.SnapshotFilter(hosts=_words(host), tags=_words(tag), paths=_words(path))
    result = state.run(
        principal,
        "snapshots",
        ops.SnapshotsOptions(selection=selection),
        repository_choice(state, repository),
    ).to_dict()
    snapshots = sorted(result["snapshots"], key=lambda item: item["time"], reverse=True)
    return {
        "title": "Snapshots",
        "snapshots": snapshots,
        "filter": {"host": host or "", "tag": tag or "", "path": path or ""},
        **repository_picker(state, repository),
    }


def breadcrumbs(path: str) -> list[tuple[str, str]]:
    """``/a/b`` -> ``[("/", "/"), ("a", "/a"), ("b", "/a/b")]``."""
    crumbs = [("/", "/")]
    current = ""
    for part in [part for part in path.split("/") if part]:
        current = f"{current}/{part}"
        crumbs.append((part, current))
    return crumbs


def tree(
    state: ServerState,
    principal: Principal,
    repository: str | None,
    snapshot: str,
    path: str,
) -> dict[str, Any]:
    """A directory of ``snapshot`` (or the file at ``path``) and its direct children."""
    path = posixpath.normpath("/" + path.lstrip("/"))
    listing = state.run(
        principal,
        "ls",
        ops.LsOptions(snapshot=snapshot, path=path),
        repository_choice(state, repository),
    ).to_dict()
    entries = [entry for entry in listing["entries"] if entry.get("path") != path]
    entries.sort(key=lambda entry: (entry.get("type") != "dir", entry.get("name", "")))
    return {
        "title": f"Snapshot {listing['snapshot']['short_id']}",
        "snapshot": listing["snapshot"],
        "path": path,
        "parent": posixpath.dirname(path) if path != "/" else None,
        "crumbs": breadcrumbs(path),
        "entries": entries,
        "repository": repository or "",
    }


def inventory(
    state: ServerState,
    principal: Principal,
    repository: str | None,
    *,
    snapshot: str = "latest",
    expiring: str | None = None,
) -> dict[str, Any]:
    """The inventory page: the keys and certificates of a snapshot (those expiring within
    ``expiring``, a duration such as ``30d``, when given)."""
    result = state.run(
        principal,
        "inventory",
        ops.InventoryOptions(snapshot=snapshot or "latest", expiring=expiring or None),
        repository_choice(state, repository),
    ).to_dict()
    findings = sorted(result["findings"], key=lambda item: (item["kind"], item["path"]))
    return {
        "title": "Inventory",
        "result": result,
        "findings": findings,
        "snapshot_choice": snapshot,
        "expiring": expiring or "",
        **repository_picker(state, repository),
    }


__all__ = [
    "breadcrumbs",
    "inventory",
    "repository_choice",
    "repository_picker",
    "snapshot_list",
    "tree",
]
