"""Enrolment and report tokens (keyark.access.enrolment) and run reports (keyark.fleet)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from keyark.access.enrolment import EnrolmentStore
from keyark.errors import AuthenticationError, UsageError
from keyark.fleet.assignment import config_etag
from keyark.fleet.pinned import normal_fingerprint
from keyark.fleet.reports import RunReport


def test_a_token_enrols_its_host_once(tmp_path: Path) -> None:
    store = EnrolmentStore(tmp_path)
    issued = store.create("web-01")
    assert issued.token not in repr(issued)
    assert store.redeem(issued.token) == "web-01"
    with pytest.raises(AuthenticationError):
        store.redeem(issued.token)


def test_only_one_of_racing_redemptions_wins(tmp_path: Path) -> None:
    store = EnrolmentStore(tmp_path)
    token = store.create("web-01").token
    results: list[str] = []

    def redeem() -> None:
        try:
            results.append(EnrolmentStore(tmp_path).redeem(token))
        except AuthenticationError:
            results.append("refused")

    threads = [threading.Thread(target=redeem) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["refused", "refused", "refused", "web-01"]


def test_expired_wrong_and_malformed_tokens_are_refused(tmp_path: Path) -> None:
    store = EnrolmentStore(tmp_path)
    expired = store.create("web-01", timedelta(microseconds=1)).token
    with pytest.raises(AuthenticationError):
        store.redeem(expired)
    good = store.create("web-02").token
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    for token in (forged, "kye_nothing", "kya_0123456789abcdef_" + "A" * 43):
        with pytest.raises(AuthenticationError):
            store.redeem(token)
    assert store.redeem(good) == "web-02"  # control: the real one still works


def test_a_released_token_works_again(tmp_path: Path) -> None:
    store = EnrolmentStore(tmp_path)
    token = store.create("web-01").token
    store.redeem(token)
    store.release(token)
    assert store.redeem(token) == "web-01"


def test_report_tokens_name_their_host_until_replaced(tmp_path: Path) -> None:
    store = EnrolmentStore(tmp_path)
    first = store.issue_report_token("web-01")
    assert store.report_host(first) == "web-01"
    second = store.issue_report_token("web-01")
    assert store.report_host(second) == "web-01"
    with pytest.raises(AuthenticationError):
        store.report_host(first)
    store.revoke_reports("web-01")
    with pytest.raises(AuthenticationError):
        store.report_host(second)


@pytest.mark.parametrize("host", ["", "-x", "a/b", "x" * 65, "web 01"])
def test_bad_host_names_are_refused(tmp_path: Path, host: str) -> None:
    with pytest.raises(UsageError):
        EnrolmentStore(tmp_path).create(host)


def _report(**changes: object) -> dict[str, object]:
    now = datetime.now(UTC)
    document: dict[str, object] = {
        "job": "keys",
        "status": "success",
        "started": (now - timedelta(seconds=3)).isoformat(),
        "finished": now.isoformat(),
        "bytes_added": 5,
    }
    document.update(changes)
    return document


def test_reports_are_parsed_and_bad_fields_refused() -> None:
    report = RunReport.from_dict(_report())
    assert report.job == "keys" and report.bytes_added == 5
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    for bad in (
        {"status": "succeeded"},
        {"job": ""},
        {"finished": "yesterday"},
        {"finished": "2024-01-01T00:00:00"},  # no time zone
        {"finished": future},
        {"started": future},
        {"bytes_added": -1},
        {"snapshot_id": "x" * 2000},
    ):
        with pytest.raises(UsageError):
            RunReport.from_dict(_report(**bad))


def test_fingerprints_and_etags() -> None:
    pin = "AB:" * 31 + "AB"
    assert normal_fingerprint(pin) == "ab" * 32
    with pytest.raises(UsageError):
        normal_fingerprint("abc")
    assert config_etag({"a": 1, "b": 2}) == config_etag({"b": 2, "a": 1})
    assert config_etag({"a": 1}) != config_etag({"a": 2})
