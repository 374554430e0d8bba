"""The agent's side of enrolment: ask the server, keep what it answers.

``enroll`` sends the one-time token to ``POST /api/v1/agents/enroll`` over HTTPS, pins
the certificate the server presented, and writes into the agent directory (0700):

- ``credential.json``: the write-only agent credential (0600);
- ``keyark.yaml``: the assigned config: the repository opened with that credential and
  the jobs the server assigns to this host (0600);
- ``server.json``: the server's address, the certificate pin, the host name and the
  agent's report token (0600).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from keyark.cache_dir import private_directory
from keyark.crypto.agents import AgentCredential
from keyark.errors import AuthenticationError, UsageError
from keyark.fleet import pinned

CREDENTIAL = "credential.json"
CONFIG = "keyark.yaml"
SERVER = "server.json"
#: The enrolment route.
ENROLL_PATH = "/api/v1/agents/enroll"


@dataclass(frozen=True)
class Enrolled:
    """What enrolment wrote: the host, the files, the pinned certificate's SHA-256."""

    host: str
    agent: str
    directory: Path
    config: Path
    credential: Path
    fingerprint: str
    jobs: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_type": "agent_enrolled",
            "host": self.host,
            "agent": self.agent,
            "directory": str(self.directory),
            "config": str(self.config),
            "credential": str(self.credential),
            "fingerprint": self.fingerprint,
            "jobs": self.jobs,
        }


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file ``path`` (0600), replacing it atomically."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


def agent_config(directory: Path, assignment: dict[str, Any]) -> dict[str, Any]:
    """The agent's config document for the server's ``assignment``."""
    repository = assignment.get("repository")
    jobs = assignment.get("jobs")
    if not isinstance(repository, dict) or not isinstance(jobs, dict):
        raise UsageError("the server's answer has no valid assigned config")
    name, url = repository.get("name"), repository.get("url")
    if not isinstance(name, str) or not isinstance(url, str):
        raise UsageError("the server's answer has no valid repository")
    return {
        "version": 1,
        "repositories": {name: {"url": url, "agent_credential": str(directory / CREDENTIAL)}},
        "jobs": jobs,
        "scheduler": {"state_dir": str(directory / "state")},
    }


def enroll(server: str, token: str, directory: Path, fingerprint: str | None = None) -> Enrolled:
    """Enrol this host with ``server`` using the one-time ``token``; write the files into
    ``directory``. ``fingerprint`` (SHA-256 of the server's certificate) is checked
    before the token is sent; without it the presented certificate is pinned."""
    if (directory / SERVER).exists():
        raise UsageError(f"{directory} holds an enrolment already; remove it to enrol again")
    pin = None if fingerprint is None else pinned.normal_fingerprint(fingerprint)
    try:
        answer, seen = pinned.request(server, "POST", ENROLL_PATH, pin=pin, body={"token": token})
    except OSError as error:
        raise UsageError(f"cannot reach {server}: {error}") from None
    if answer.status == 401:
        raise AuthenticationError(pinned.problem_text(answer))
    if answer.status != 200 or not isinstance(answer.body, dict):
        raise UsageError(f"the server refused the enrolment: {pinned.problem_text(answer)}")
    body = answer.body
    credential = AgentCredential.from_bytes(str(body.get("credential", "")).encode())
    host, report_token = body.get("host"), body.get("report_token")
    if not isinstance(host, str) or not isinstance(report_token, str):
        raise UsageError("the server's answer names no host or report token")
    private_directory(directory)
    document = agent_config(directory, body.get("assignment") or {})
    write_private(directory / CREDENTIAL, credential.to_bytes())
    write_private(directory / CONFIG, yaml.safe_dump(document, sort_keys=False).encode())
    server_document = {
        "server": server,
        "fingerprint": seen,
        "host": host,
        "agent": credential.name,
        "report_token": report_token,
        "etag": body.get("etag"),
    }
    write_private(directory / SERVER, json.dumps(server_document, indent=2).encode())
    return Enrolled(
        host,
        credential.name,
        directory,
        directory / CONFIG,
        directory / CREDENTIAL,
        seen,
        sorted(document["jobs"]),
    )


__all__ = ["CONFIG", "CREDENTIAL", "ENROLL_PATH", "SERVER", "Enrolled", "agent_config", "enroll"]
