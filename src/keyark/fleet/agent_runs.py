"""Every run of an enrolled agent's job talks to its server: the assigned config is pulled
before it, its report queued and sent after it.

The job runner (:func:`keyark.jobs.runner.run_task`) calls :func:`before_run` and
:func:`after_run` for every backup run, so ``keyark run JOB``, the daemon and ``keyark
agent run`` all report the same way. A config is an enrolled agent's when the job's
repository is opened with an agent credential whose directory holds the enrolment
(``server.json``). Nothing here fails a run: a server that cannot be reached, refuses or
presents another certificate is a warning; the report stays in the outbox
(:mod:`keyark.fleet.outbox`) and is sent by the next run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from keyark.config.document import KeyarkConfig
from keyark.context import OperationContext
from keyark.errors import KeyarkError
from keyark.events import Code
from keyark.fleet import pinned
from keyark.fleet.enrolled import CONFIG, SERVER
from keyark.fleet.outbox import LIMIT, Outbox
from keyark.fleet.sync import REPORT_PATH, AgentState, pull_config, report_document, unreachable
from keyark.state.runs import RunRecord

#: Answers after which a report is kept for the next run (the server may take it then).
_RETRY_STATUSES = frozenset({408, 429})


def enrolment_directory(config: KeyarkConfig, task: str) -> Path | None:
    """The agent directory of ``task``'s enrolment (None: not an enrolled agent's job). A
    task the config does not name (a job assigned since it was written) is looked up on
    the config's repositories."""
    job = config.jobs.get(task)
    if job is not None:
        repository = config.repositories.get(job.repository or "")
        candidates = [] if repository is None else [repository]
    else:
        candidates = list(config.repositories.values())
    for repository in candidates:
        credential = repository.agent_credential
        if credential:
            directory = Path(credential).expanduser().parent
            if (directory / SERVER).is_file():
                return directory
    return None


def before_run(ctx: OperationContext, config: KeyarkConfig, task: str) -> KeyarkConfig:
    """The config to run ``task`` with: when the server assigned a changed config, the
    newly pulled one; else (not enrolled, server unreachable or refusing) ``config``."""
    directory = enrolment_directory(config, task)
    if directory is None:
        return config
    try:
        changed = pull_config(AgentState.read(directory))
    except OSError as error:
        unreachable(ctx, "the assigned config was not pulled", error)
        return config
    except KeyarkError as error:
        refused(ctx, "the assigned config was not pulled", error)
        return config
    if not changed:
        return config
    from keyark.config.loading import load_config_file

    try:
        pulled = load_config_file(directory / CONFIG)
    except KeyarkError as error:
        refused(ctx, f"job {task} runs as configured; the pulled config does not load", error)
        return config
    if task not in pulled.jobs and task in config.jobs:
        refused(ctx, f"job {task} runs as configured", "it is no longer assigned to this host")
        return config
    return pulled


def after_run(ctx: OperationContext, config: KeyarkConfig, record: RunRecord) -> None:
    """Queue the report of a finished run of an enrolled agent's job, then send every
    queued report, oldest first (those not sent stay queued)."""
    directory = enrolment_directory(config, record.job)
    if directory is None:
        return
    try:
        with Outbox(directory).held() as queued:
            queued.append(report_document(record))
            if len(queued) > LIMIT:
                dropped = len(queued) - LIMIT
                del queued[:dropped]
                ctx.events.warn(
                    Code.FLEET_OUTBOX_FULL,
                    f"{dropped} oldest unsent report(s) dropped (at most {LIMIT} are kept)",
                    subject="server",
                )
            _deliver(ctx, directory, queued)
    except OSError as error:  # the outbox itself (a full disk): the run stands
        refused(ctx, f"the run of {record.job} was not queued for reporting", error)


def _deliver(ctx: OperationContext, directory: Path, queued: list[dict[str, Any]]) -> None:
    """Send ``queued`` in order, removing each the server stored or refused for good;
    stop at the first that cannot be delivered now."""
    try:
        state = AgentState.read(directory)
    except KeyarkError as error:
        refused(ctx, f"{len(queued)} report(s) not sent", error)
        return
    while queued:
        document = queued[0]
        what = f"the run of {document.get('job')} was not reported"
        try:
            answer = state.call("POST", REPORT_PATH, document)
        except OSError as error:
            unreachable(ctx, f"{what} (kept to send later)", error)
            return
        except KeyarkError as error:  # revoked token, another certificate
            refused(ctx, f"{what} (kept to send later)", error)
            return
        if answer.status >= 500 or answer.status in _RETRY_STATUSES:
            unreachable(ctx, f"{what} (kept to send later)", pinned.problem_text(answer))
            return
        if answer.status != 200:  # refused for good: keeping it would block the others
            refused(ctx, f"{what}; the server refused it", pinned.problem_text(answer))
        del queued[0]


def refused(ctx: OperationContext, what: str, reason: object) -> None:
    """Warn that the server refused (or could not be trusted) for ``what``."""
    ctx.events.warn(Code.FLEET_REFUSED, f"{what}: {reason}", subject="server")


__all__ = ["after_run", "before_run", "enrolment_directory", "refused"]
