"""An enrolled agent's round: pull the assigned config, run its jobs, report each run.

The config is pulled with ``If-None-Match`` (the ETag of the last one); a server that
cannot be reached is a warning (the jobs run with the config the agent has), while a
server presenting a certificate other than the pinned one stops the round before any
request byte is sent (:class:`~keyark.errors.CertificatePinError`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from keyark import __version__
from keyark.context import OperationContext
from keyark.errors import AuthenticationError, UsageError
from keyark.events import Code
from keyark.fleet import pinned
from keyark.fleet.enrolled import CONFIG, SERVER, agent_config, write_private
from keyark.state.runs import RunRecord

CONFIG_PATH = "/api/v1/agents/config"
REPORT_PATH = "/api/v1/agents/report"


@dataclass
class AgentState:
    """``server.json``: the server, its certificate pin, the host and the report token."""

    directory: Path
    document: dict[str, Any] = field(repr=False)

    @classmethod
    def read(cls, directory: Path) -> AgentState:
        """The enrolment in ``directory``; UsageError when there is none."""
        try:
            document = json.loads((directory / SERVER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise UsageError(f"{directory} holds no enrolment; enrol this host first") from None
        if not isinstance(document, dict):
            raise UsageError(f"{directory / SERVER} is malformed; enrol this host again")
        return cls(directory, document)

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> pinned.Answer:
        """A request to the server with the report token, the certificate pinned."""
        answer, _ = pinned.request(
            str(self.document["server"]),
            method,
            path,
            pin=str(self.document["fingerprint"]),
            body=body,
            headers={
                "Authorization": f"Bearer {self.document['report_token']}",
                **(headers or {}),
            },
        )
        if answer.status == 401:
            raise AuthenticationError(
                f"the server refused this agent's report token: {pinned.problem_text(answer)}"
            )
        return answer

    def save(self) -> None:
        """Write ``server.json`` back (0600)."""
        write_private(self.directory / SERVER, json.dumps(self.document, indent=2).encode())


def pull_config(state: AgentState) -> bool:
    """Fetch the assigned config when it changed (ETag); whether it was rewritten."""
    etag = state.document.get("etag")
    headers = {"If-None-Match": etag} if isinstance(etag, str) else {}
    answer = state.call("GET", CONFIG_PATH, headers=headers)
    if answer.status == 304:
        return False
    if answer.status != 200 or not isinstance(answer.body, dict):
        raise UsageError(f"the server did not send the config: {pinned.problem_text(answer)}")
    document = agent_config(state.directory, answer.body.get("assignment") or {})
    write_private(state.directory / CONFIG, yaml.safe_dump(document, sort_keys=False).encode())
    state.document["etag"] = answer.body.get("etag")
    state.save()
    return True


def report_document(record: RunRecord) -> dict[str, Any]:
    """The report of a finished run."""
    started = record.started or record.finished
    finished = record.finished or record.started
    return {
        "job": record.job,
        "status": record.status,
        "started": None if started is None else started.isoformat(),
        "finished": None if finished is None else finished.isoformat(),
        "bytes_added": record.bytes_added,
        "snapshot_id": record.snapshot_id,
        "inventory": {"files_new": record.files_new},
        "version": __version__,
        "error": record.error,
    }


def unreachable(ctx: OperationContext, what: str, error: object) -> None:
    """Warn that the server could not be reached for ``what``."""
    ctx.events.warn(Code.FLEET_UNREACHABLE, f"{what}: {error}", subject="server")


__all__ = ["AgentState", "pull_config", "report_document", "unreachable"]
