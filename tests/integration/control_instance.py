"""One scheduler instance on a shared PostgreSQL control database, as a process.

``python -m tests.integration.control_instance CONFIG STATE_DIR URL LEASE_SECONDS`` serves
CONFIG's scheduled tasks with the run history and task claims in the database at URL (the
real :class:`~keyark.daemon.scheduler.Scheduler`, the real runner, a real repository),
until SIGTERM. Its log goes to stderr. A lease of a few seconds (``keyark serve`` uses the
30 s default) keeps the scheduler-level takeover test short; the installed
``keyark serve --with-daemon`` does the same through ``server.database``
(tests/e2e/test_ha_serve.py).
"""

from __future__ import annotations

import logging
import signal
import sys
from datetime import timedelta
from pathlib import Path
from types import FrameType

from keyark import ops
from keyark.cancel import CancelToken
from keyark.config.loading import load_config_file
from keyark.control.claims import TaskClaims
from keyark.control.database import PostgresDatabase
from keyark.control.leases import instance_name
from keyark.daemon.scheduler import Scheduler
from keyark.jobs.runner import run_task
from keyark.state.runs import RunStore


def main(argv: list[str]) -> None:
    """Serve until SIGTERM (see the module)."""
    config_path, state_dir, url, lease = argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    config = load_config_file(config_path)
    database = PostgresDatabase(url)
    store = RunStore(Path(state_dir), database=database)
    claims = TaskClaims(database, instance_name(), lease=timedelta(seconds=float(lease)))

    def runner(options: ops.RunOptions, token: CancelToken) -> ops.JobRun:
        context = ops.OperationContext(cancel=token, actor=ops.Actor.current(job=options.task))
        record = run_task(
            context, config, options.task, store, trigger=options.trigger,
            scheduled=options.scheduled,
        )  # fmt: skip
        return ops.JobRun(record, False)

    stop = CancelToken()

    def on_term(_signal: int, _frame: FrameType | None) -> None:
        stop.cancel("SIGTERM")

    signal.signal(signal.SIGTERM, on_term)
    scheduler = Scheduler(config, store, runner=runner, claims=claims, max_sleep=1.0)
    logging.getLogger("keyark.daemon").info("instance %s", claims.instance)
    scheduler.serve(stop, ready=lambda: logging.getLogger("keyark.daemon").info("ready"))


if __name__ == "__main__":
    main(sys.argv[1:])
