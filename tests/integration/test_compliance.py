"""``compliance report`` (issue 15 §2): a fresh repository FAILs the rotation and drill
controls; a rotation (with the key's age moved on by time-machine) PASSes rotation, and a
key past its cryptoperiod FAILs it again; a recorded restore drill PASSes the drill control,
a failed newer one FAILs it. Reports render as Markdown, escaped HTML and JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from tests.conftest import PASSWORD

from keyark import ops
from keyark.compliance.model import ComplianceReport, Status
from keyark.config.models import RepositoryConfig, RepositorySpec
from keyark.crypto.slots import Credentials
from keyark.errors import UsageError

ROTATION = "pci-3.7.4"
DRILL = "gdpr-32-1-d"


@pytest.fixture
def context(tmp_path: Path) -> Iterator[ops.OperationContext]:
    location = str(tmp_path / "repo")
    ops.init_repository(location, PASSWORD.encode(), pack_size_mib=1).close()
    yield ops.OperationContext(
        config=RepositoryConfig(repository=RepositorySpec(url=location)),
        credentials=Credentials(passphrase=PASSWORD.encode()),
        cache_dir=tmp_path / "cache",
    )


def report(ctx: ops.OperationContext, state: Path, standard: str = "all") -> ComplianceReport:
    return ops.compliance_report(ctx, ops.ComplianceOptions(standard, state_dir=state))


def drill(state: Path, status: str, started: datetime) -> None:
    """A restore drill as the recovery tooling records it (the contract of evidence.py)."""
    record = ops.RunRecord(
        job="drill",
        kind="drill",
        trigger="manual",
        status=status,
        started=started,
        finished=started + timedelta(seconds=42),
        duration=42.0,
    )
    ops.RunStore(state).record(record)


def test_fresh_repository_fails_rotation_and_drill(
    context: ops.OperationContext, tmp_path: Path
) -> None:
    fresh = report(context, tmp_path / "state")
    assert fresh.control(ROTATION).status is Status.FAIL
    assert "never rotated" in fresh.control(ROTATION).finding
    assert fresh.control(DRILL).status is Status.FAIL
    assert fresh.control("pci-3.5.1").status is Status.PASS  # positive control: not all fail
    assert fresh.failed and not fresh.to_dict()["passed"]
    assert fresh.control(ROTATION).remediation and not fresh.control("pci-3.5.1").remediation
    only_gdpr = report(context, tmp_path / "state", "gdpr")
    assert {c.standard for c in only_gdpr.controls} == {"gdpr"}


def test_rotation_passes_after_a_rotation_and_fails_past_the_cryptoperiod(
    context: ops.OperationContext, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    later = datetime.now(UTC) + timedelta(days=30)
    with time_machine.travel(later, tick=True):
        ops.key_rotate(context, ops.RotateOptions(reencrypt=True))
        rotated = report(context, state)
        assert rotated.control(ROTATION).status is Status.PASS, rotated.control(ROTATION)
        assert rotated.control("pci-3.7.5").status is Status.PASS  # retired key re-encrypted away
    with time_machine.travel(later + timedelta(days=91), tick=True):
        overdue = report(context, state)
    assert overdue.control(ROTATION).status is Status.FAIL
    assert "cryptoperiod" in overdue.control(ROTATION).finding


def test_drill_control_follows_the_recorded_drills(
    context: ops.OperationContext, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    now = datetime.now(UTC)
    drill(state, "success", now - timedelta(hours=1))
    passed = report(context, state)
    assert passed.control(DRILL).status is Status.PASS
    assert passed.control("gdpr-32-1-c").status is Status.PASS
    drill(state, "failed", now - timedelta(minutes=5))
    failed = report(context, state)
    assert failed.control(DRILL).status is Status.FAIL
    with time_machine.travel(now + timedelta(days=120), tick=True):
        stale = report(context, state)
    assert stale.control(DRILL).status is Status.FAIL  # the newest still failed
    drill(state, "success", now)
    with time_machine.travel(now + timedelta(days=120), tick=True):
        old = report(context, state)
    assert old.control(DRILL).status is Status.WARN


def test_report_formats_escape_and_carry_every_control(
    context: ops.OperationContext, tmp_path: Path
) -> None:
    result = report(context, tmp_path / "state")
    result.repository = "<script>alert(1)</script>"
    page = ops.render_report(result, "html")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "http" not in page.replace("https://", "")  # no external resource
    document = json.loads(ops.render_report(result, "json"))
    assert [c["id"] for c in document["controls"]] == [c.id for c in result.controls]
    assert all(c["status"] in {"PASS", "FAIL", "WARN", "N/A"} for c in document["controls"])
    markdown = ops.render_report(result, "md")
    assert all(c.reference in markdown for c in result.controls)
    with pytest.raises(UsageError):
        ops.render_report(result, "pdf")
