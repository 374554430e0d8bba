"""Every face-neutral hint has CLI wording, and the CLI appends it to the error line."""

from __future__ import annotations

import pytest

from keyark.cli.hints import WORDING, cli_hint
from keyark.cli.main import _report
from keyark.errors import Hint, LockError


def test_every_hint_has_cli_wording() -> None:
    assert set(WORDING) == set(Hint), sorted(set(Hint) - set(WORDING))
    assert cli_hint(None) == ""


def test_the_error_line_carries_the_message_and_the_wording(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _report(LockError("repository locked by pid 7 on host a", hint=Hint.UNLOCK), json_mode=False)
    line = capsys.readouterr().err
    assert line == (
        "keyark: repository locked by pid 7 on host a; if that process is gone, "
        "run 'keyark unlock'\n"
    )


def test_json_errors_carry_code_hint_and_advice(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    _report(LockError("locked", hint=Hint.UNLOCK), json_mode=True)
    data = json.loads(capsys.readouterr().err)
    assert data == {
        "message_type": "error",
        "code": "locked",
        "message": "locked",
        "hint": "unlock",
        "advice": cli_hint(Hint.UNLOCK),
    }
