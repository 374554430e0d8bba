"""The operation catalogue: declared once, introspectable, run with its events (issue 10 §1)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from keyark import ops
from keyark.cancel import CancelToken
from keyark.context import OperationContext
from keyark.errors import CancelledError, Hint, LockError
from keyark.events import Event, Events, Failed, Finished, Started
from keyark.ops.catalogue import Operation, describe_options


@dataclass
class _Options:
    name: str = "x"
    secret: bytes = field(default=b"", repr=False, metadata={"secret": True})


@dataclass
class _Result:
    value: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value}


def _entry(run: Any) -> Operation[_Options, _Result]:
    return Operation("probe", _Options, _Result, run, False, False, "A probe.")


def test_an_operation_reports_started_and_finished() -> None:
    seen: list[Event] = []
    ctx = OperationContext(events=Events("", seen.append))
    result = _entry(lambda c, o: _Result(len(o.name)))(ctx, _Options("abc", b"pw"))
    assert result.value == 3
    assert [type(e) for e in seen] == [Started, Finished]
    assert seen[0].operation == "probe"
    started = seen[0]
    assert isinstance(started, Started) and started.options == {"name": "abc"}  # no secret
    assert isinstance(seen[1], Finished) and seen[1].result == {"value": 3}


def test_a_sink_that_reads_no_results_is_spared_building_them() -> None:
    """A face that never reads ``finished`` results (the CLI's text output) is not
    made to pay for them: ``to_dict`` is not called; the default sink gets them."""
    calls: list[int] = []

    @dataclass
    class Counted(_Result):
        def to_dict(self) -> dict[str, Any]:
            calls.append(self.value)
            return super().to_dict()

    entry = Operation("probe", _Options, Counted, lambda c, o: Counted(5), False, False, "-")
    for results, expected in ((False, {}), (True, {"value": 5})):
        seen: list[Event] = []
        calls.clear()
        result = entry(
            OperationContext(events=Events("", seen.append, results=results)), _Options()
        )
        assert result.value == 5  # the caller always has the result
        finished = seen[-1]
        assert isinstance(finished, Finished) and finished.result == expected
        assert calls == ([5] if results else [])
    # A sub-operation's emitter keeps the setting.
    assert Events("", results=False).child("rotate").results is False


def test_a_failure_reports_its_code_and_hint_and_re_raises() -> None:
    seen: list[Event] = []

    def fail(ctx: OperationContext, options: _Options) -> _Result:
        raise LockError("locked by pid 7", hint=Hint.UNLOCK)

    with pytest.raises(LockError):
        _entry(fail)(OperationContext(events=Events("", seen.append)), _Options())
    failed = seen[-1]
    assert isinstance(failed, Failed) and failed.code == "locked" and failed.hint == "unlock"


def test_a_cancelled_context_does_not_start() -> None:
    token = CancelToken()
    token.cancel()
    ran: list[bool] = []
    with pytest.raises(CancelledError):
        _entry(lambda c, o: ran.append(True))(OperationContext(cancel=token), _Options())
    assert not ran


def test_secret_options_are_never_described() -> None:
    assert describe_options(_Options("n", b"secret")) == {"name": "n"}
    assert [f["name"] for f in _entry(None).describe()["options"]] == ["name"]


def test_every_catalogue_entry_is_introspectable() -> None:
    assert ops.CATALOGUE, "the catalogue is empty"
    for name, entry in ops.CATALOGUE.items():
        assert entry.name == name and entry.summary
        assert dataclasses.is_dataclass(entry.options), name
        assert callable(getattr(entry.result, "to_dict", None)), name
        described = entry.describe()
        json.dumps(described)  # JSON-ready, for the HTTP API
        assert isinstance(described["mutates"], bool)
        assert isinstance(described["reads_secrets"], bool)


def test_a_secret_result_never_reaches_the_event_stream() -> None:
    seen: list[Event] = []
    entry = Operation("probe", _Options, _Result, lambda c, o: _Result(42), False, True, "P.", True)
    assert entry(OperationContext(events=Events("", seen.append)), _Options()).value == 42
    finished = seen[-1]
    assert isinstance(finished, Finished) and finished.result == {}
    control = _entry(lambda c, o: _Result(42))  # positive control: a plain result is carried
    control(OperationContext(events=Events("", seen.append)), _Options())
    last = seen[-1]
    assert isinstance(last, Finished) and last.result == {"value": 42}


def test_decrypted_objects_are_declared_secret() -> None:
    assert ops.CATALOGUE["debug cat"].secret_result
    assert ops.CATALOGUE["debug cat"].reads_secrets
    assert not ops.CATALOGUE["check"].reads_secrets and not ops.CATALOGUE["check"].mutates
    assert ops.CATALOGUE["restore"].reads_secrets and ops.CATALOGUE["dump"].reads_secrets
    assert ops.CATALOGUE["prune"].mutates and ops.CATALOGUE["backup"].mutates
