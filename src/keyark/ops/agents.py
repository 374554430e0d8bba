"""Write-only backup agents: ``agent add``, ``agent list``, ``agent revoke``.

The pipelines live in :mod:`keyark.agents`; registering and revoking change the
keyring under an exclusive lock (waiting ``ctx.lock_wait`` for it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keyark import agents
from keyark.agents import AgentInfo as AgentInfo
from keyark.context import OperationContext
from keyark.ops.catalogue import operation
from keyark.ops.session import opened


@dataclass(frozen=True)
class AgentAddOptions:
    """The agent's name, where to write its credential, and the hosts it may claim."""

    name: str
    #: The credential file to create (0600, never overwriting).
    out: str
    #: Host names the agent may claim (default: its name).
    hosts: list[str] = field(default_factory=list)
    #: RSA-OAEP-4096 instead of X25519 for the repository's recipient key (first agent only).
    rsa: bool = False


@operation("agent add", options=AgentAddOptions, result=AgentInfo, mutates=True, reads_secrets=True)
def agent_add(ctx: OperationContext, options: AgentAddOptions) -> AgentInfo:
    """Register an agent for its hosts and write its credential (it can write, never read)."""
    with opened(ctx) as repo:
        return agents.add_agent(
            repo, options.name, Path(options.out), hosts=options.hosts, rsa=options.rsa, ctx=ctx
        )


@dataclass(frozen=True)
class AgentListOptions:
    """``agent list`` takes no options."""


@dataclass(frozen=True)
class AgentList:
    """Every registered agent, by name (revoked ones included)."""

    agents: list[AgentInfo] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"agents": [info.to_dict() for info in self.agents]}


@operation("agent list", options=AgentListOptions, result=AgentList, mutates=False)
def agent_list(ctx: OperationContext, options: AgentListOptions) -> AgentList:
    """List the registered agents."""
    with opened(ctx) as repo:
        return AgentList(agents.list_agents(repo))


@dataclass(frozen=True)
class AgentRevokeOptions:
    """The agent to revoke."""

    name: str


@operation("agent revoke", options=AgentRevokeOptions, result=AgentInfo, mutates=True)
def agent_revoke(ctx: OperationContext, options: AgentRevokeOptions) -> AgentInfo:
    """Revoke an agent: only its snapshots trusted now stay trusted."""
    with opened(ctx) as repo:
        return agents.revoke_agent(repo, options.name, ctx=ctx)
