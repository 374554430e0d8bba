"""Holding a claim while its run goes on: the lease heartbeat, and who this instance is."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from keyark.control.claims import Claim, TaskClaims
from keyark.control.database import ControlDatabase

log = logging.getLogger("keyark.daemon")


def instance_name() -> str:
    """This process's name in the claims table: host, pid and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def shared_claims(database: ControlDatabase) -> TaskClaims | None:
    """Claims for a database several instances share (PostgreSQL); None for SQLite, where
    one daemon per state directory is already enforced by its lock file."""
    if database.dialect.name == "sqlite":
        return None
    return TaskClaims(database, instance_name())


@contextmanager
def claim_held(claims: TaskClaims | None, claim: Claim | None) -> Iterator[None]:
    """Renew ``claim``'s lease every third of the lease while the block runs; mark it done
    when the block ends (even by an exception: the run ended and was recorded)."""
    if claims is None or claim is None:
        yield
        return
    stop = threading.Event()

    def heartbeat() -> None:
        interval = claims.lease.total_seconds() / 3
        while not stop.wait(interval):
            try:
                if not claims.renew(claim):
                    log.error(
                        "%s: the claim of the run due at %s was lost", claim.task, claim.scheduled
                    )
                    return
            except Exception as error:  # the database is away: keep trying until the lease ends
                log.error("%s: cannot renew the claim: %s", claim.task, error)

    beat = threading.Thread(target=heartbeat, name=f"keyark-lease-{claim.task}", daemon=True)
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join()
        claims.finish(claim)
