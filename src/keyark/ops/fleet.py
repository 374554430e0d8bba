"""The fleet: enrolment tokens (``server agent enroll-token``), enrolment of this host
(``agent enroll``), the assigned config and the fleet registry (``server agents``).

Enrolment tokens live in the server's ``access.db`` (:mod:`keyark.access.enrolment`);
the registry in ``fleet.db`` (:mod:`keyark.fleet.registry`), both in the state
directory ``keyark serve`` uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from keyark.access.enrolment import EnrolmentInfo as EnrolmentInfo
from keyark.access.enrolment import EnrolmentStore as EnrolmentStore
from keyark.agents import AgentInfo
from keyark.config.document import KeyarkConfig
from keyark.context import OperationContext
from keyark.fleet.assignment import assigned_config as assigned_config
from keyark.fleet.assignment import config_etag as config_etag
from keyark.fleet.enrolled import Enrolled as Enrolled
from keyark.fleet.registry import FleetAgent as FleetAgent
from keyark.fleet.registry import FleetRegistry as FleetRegistry
from keyark.fleet.reports import RunReport as RunReport
from keyark.fleet.reports import record_report as record_report
from keyark.ops.access import access_database, access_state_dir
from keyark.ops.catalogue import operation
from keyark.ops.jobs import JobRun


def enrolment_store(config: KeyarkConfig | None, state_dir: Path | None) -> EnrolmentStore:
    """The enrolment and report tokens on the control database (:func:`access_database`:
    the config's ``server.database`` when set, else the state directory's SQLite)."""
    directory = access_state_dir(config, state_dir)
    return EnrolmentStore(directory, database=access_database(config, state_dir))


def fleet_registry(config: KeyarkConfig | None, state_dir: Path | None) -> FleetRegistry:
    """The fleet registry on the control database (as :func:`enrolment_store`)."""
    directory = access_state_dir(config, state_dir)
    return FleetRegistry(directory, database=access_database(config, state_dir))


@dataclass(frozen=True)
class EnrollTokenOptions:
    """The host to enrol and how long the token lives (None: one hour)."""

    host: str
    lifetime: timedelta | None = None
    #: The config whose ``scheduler.state_dir`` holds the store (None: the default place).
    config: KeyarkConfig | None = field(default=None, kw_only=True)
    #: The state directory itself (wins over the config's).
    state_dir: Path | None = field(default=None, kw_only=True)


@dataclass
class EnrollTokenIssued:
    """The new enrolment token (shown this once) and its listing."""

    info: EnrolmentInfo
    token: str = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"message_type": "enrolment_token", **self.info.to_dict(), "token": self.token}


@operation(
    "server agent enroll-token",
    options=EnrollTokenOptions,
    result=EnrollTokenIssued,
    mutates=False,
    secret_result=True,
)
def server_agent_enroll_token(
    ctx: OperationContext, options: EnrollTokenOptions
) -> EnrollTokenIssued:
    """Issue a one-time token that enrols one host as a write-only agent."""
    issued = enrolment_store(options.config, options.state_dir).create(
        options.host, options.lifetime
    )
    return EnrollTokenIssued(issued.info, issued.token)


@dataclass(frozen=True)
class AgentRegisterOptions:
    """The agent to register for an enrolling host: its name and the hosts it may claim."""

    name: str
    hosts: list[str] = field(default_factory=list)


@dataclass
class AgentRegistered:
    """A registered agent and its credential (the credential file's content: only the
    caller receives it, never the event stream or the audit log)."""

    info: AgentInfo
    credential: bytes = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"message_type": "agent_registered", **self.info.to_dict()}


@operation(
    "server agent register",
    options=AgentRegisterOptions,
    result=AgentRegistered,
    mutates=True,
    reads_secrets=True,
    secret_result=True,
)
def server_agent_register(ctx: OperationContext, options: AgentRegisterOptions) -> AgentRegistered:
    """Register a write-only agent for an enrolling host; its credential is returned to
    the caller, never written to a file."""
    from keyark import agents
    from keyark.ops.session import opened

    with opened(ctx) as repo:
        info, credential = agents.add_agent_credential(
            repo, options.name, hosts=options.hosts, ctx=ctx
        )
    return AgentRegistered(info, credential)


@dataclass(frozen=True)
class AgentEnrollOptions:
    """The server (``https://HOST:PORT``), the one-time token, where to keep the agent's
    files (None: ``agent/`` in the default state directory), and optionally the server
    certificate's SHA-256 to require instead of pinning what it presents."""

    server: str
    token: str = field(repr=False)
    directory: Path | None = None
    fingerprint: str | None = None


def agent_directory(directory: Path | None = None) -> Path:
    """Where an enrolled agent keeps its files: ``directory``, else ``agent/`` in the
    default state directory."""
    from keyark.state.runs import default_state_dir

    return directory if directory is not None else default_state_dir() / "agent"


def agent_enroll(ctx: OperationContext, options: AgentEnrollOptions) -> Enrolled:
    """Enrol this host with a server: write its credential, assigned config and the
    server's pinned certificate into the agent directory."""
    from keyark.fleet.enrolled import enroll

    return enroll(
        options.server, options.token, agent_directory(options.directory), options.fingerprint
    )


@dataclass(frozen=True)
class FleetListOptions:
    """Where the fleet registry is: the config's ``scheduler.state_dir`` or ``state_dir``."""

    config: KeyarkConfig | None = field(default=None, kw_only=True)
    state_dir: Path | None = field(default=None, kw_only=True)


@dataclass
class FleetList:
    """The enrolled hosts, by name."""

    agents: list[FleetAgent]

    def to_dict(self) -> dict[str, Any]:
        return {"message_type": "fleet", "agents": [a.to_dict() for a in self.agents]}


@operation("server agents", options=FleetListOptions, result=FleetList, mutates=False)
def server_agents(ctx: OperationContext, options: FleetListOptions) -> FleetList:
    """List the enrolled hosts: agent, enrolment, last report, last success, version."""
    return FleetList(fleet_registry(options.config, options.state_dir).agents())


@dataclass(frozen=True)
class AgentSyncOptions:
    """The agent directory (None: the default) and the jobs to run (empty: all assigned)."""

    directory: Path | None = None
    jobs: list[str] = field(default_factory=list)


@dataclass
class AgentSync:
    """One round of an enrolled agent: whether the config changed, the runs, how many
    were reported."""

    config_changed: bool
    runs: list[JobRun]
    reported: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_type": "agent_sync",
            "config_changed": self.config_changed,
            "runs": [run.to_dict() for run in self.runs],
            "reported": self.reported,
        }

    @property
    def exit_code(self) -> int:
        """The worst exit code of the runs (0 when none ran)."""
        return max((run.exit_code for run in self.runs), default=0)


def agent_sync(ctx: OperationContext, options: AgentSyncOptions) -> AgentSync:
    """Pull the assigned config (ETag), run the jobs; each run reports to the server (the
    job runner does, as for every run of an enrolled agent's job).

    A server that cannot be reached is a warning (the jobs run with the config at hand,
    their reports stay queued for the next run); a server presenting another certificate
    than the pinned one, or refusing the report token, stops the round before anything
    runs."""
    from keyark.config.loading import load_config_file
    from keyark.fleet import sync
    from keyark.fleet.enrolled import CONFIG
    from keyark.fleet.outbox import Outbox, report_key
    from keyark.ops.jobs import RunOptions, run

    directory = agent_directory(options.directory)
    state = sync.AgentState.read(directory)
    changed = False
    try:
        changed = sync.pull_config(state)
    except OSError as error:
        sync.unreachable(ctx, "the assigned config was not pulled", error)
    config = load_config_file(directory / CONFIG)
    names = options.jobs or list(config.jobs)
    runs = [run(ctx, RunOptions(config, name, state_dir=directory / "state")) for name in names]
    queued = {report_key(document) for document in Outbox(directory).documents()}
    reported = sum(
        report_key(sync.report_document(job_run.record)) not in queued for job_run in runs
    )
    return AgentSync(changed, runs, reported)


@dataclass(frozen=True)
class FleetRevokeOptions:
    """The enrolled host to revoke (its agent, through ``agent revoke``, and its report
    token); the registry's place as for :class:`FleetListOptions`."""

    host: str
    config: KeyarkConfig | None = field(default=None, kw_only=True)
    state_dir: Path | None = field(default=None, kw_only=True)


@operation("server agent revoke", options=FleetRevokeOptions, result=AgentInfo, mutates=True)
def server_agent_revoke(ctx: OperationContext, options: FleetRevokeOptions) -> AgentInfo:
    """Revoke an enrolled host: its agent (only its snapshots trusted now stay trusted)
    and its report token (its reports and config pulls are refused from now on)."""
    from keyark import agents
    from keyark.errors import Hint, UsageError
    from keyark.ops.session import opened

    registry = fleet_registry(options.config, options.state_dir)
    name = registry.agent_of(options.host)
    if name is None:
        raise UsageError(f"no enrolled host named {options.host!r}", hint=Hint.AGENT_LIST)
    with opened(ctx) as repo:
        info = agents.revoke_agent(repo, name, ctx=ctx)
    enrolment_store(options.config, options.state_dir).revoke_reports(options.host)
    registry.revoked(options.host)
    return info
