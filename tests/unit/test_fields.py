"""The typed field validators every parser of stored objects uses (keyark.repo.fields)."""

from __future__ import annotations

from typing import Any

import pytest

from keyark.errors import FormatError
from keyark.repo.fields import (
    Fields,
    checker,
    load_json,
    require_bool,
    require_bytes,
    require_float,
    require_hex,
    require_id,
    require_int,
    require_list_of,
    require_map_of,
    require_str,
    unpack_msgpack,
)


def test_valid_values_pass_through() -> None:
    assert require_int(5, "x", 0, 10) == 5
    assert require_float(2, "x", 0, 3) == 2.0
    assert require_bool(False, "x") is False
    assert require_str("abc", "x", max_len=3) == "abc"
    assert require_bytes(bytearray(b"ab"), "x", 2) == b"ab"
    assert require_id(b"\1" * 32, "x") == b"\1" * 32
    assert require_hex("00ff", "x", 2) == "00ff"
    assert require_list_of([b"\0" * 32], "x", require_id) == [b"\0" * 32]
    assert require_map_of({"a": b""}, "x", require_str, require_bytes) == {"a": b""}
    assert load_json(b'{"a": 1}', "x") == {"a": 1}
    assert unpack_msgpack(b"\x81\x01\x02", "x") == {1: 2}


BAD: list[tuple[str, Any]] = [
    ("int from bool", lambda: require_int(True, "x")),
    ("int from str", lambda: require_int("1", "x")),
    ("int from float", lambda: require_int(1.0, "x")),
    ("int below", lambda: require_int(-1, "x", 0)),
    ("int above", lambda: require_int(2**64, "x", hi=2**63)),
    ("float NaN", lambda: require_float(float("nan"), "x")),
    ("float huge int", lambda: require_float(10**400, "x")),
    ("bool from int", lambda: require_bool(1, "x")),
    ("str from bytes", lambda: require_str(b"a", "x")),
    ("str NUL", lambda: require_str("a\0", "x")),
    ("str long", lambda: require_str("aaaa", "x", max_len=3)),
    ("bytes from str", lambda: require_bytes("a", "x")),
    ("id short", lambda: require_id(b"\1" * 31, "x")),
    ("hex upper", lambda: require_hex("FF", "x")),
    ("list item", lambda: require_list_of([1], "x", require_id)),
    ("map key", lambda: require_map_of({1: b""}, "x", require_str, require_bytes)),
    ("json NaN", lambda: load_json(b"NaN", "x")),
    ("json deep", lambda: load_json(b"[" * 100_000, "x")),
    ("msgpack deep", lambda: unpack_msgpack(b"\x91" * 100_000, "x")),
    ("msgpack truncated", lambda: unpack_msgpack(b"\x92\x01", "x")),
    ("missing field", lambda: Fields({}, "x").get_int("a")),
    ("not a map", lambda: Fields([], "x")),
    ("nested", lambda: Fields({"a": {"b": "1"}}, "x").fields("a").get_int("b")),
]


@pytest.mark.parametrize("call", [c for _, c in BAD], ids=[n for n, _ in BAD])
def test_bad_values_are_one_line_format_errors(call: Any) -> None:
    with pytest.raises(FormatError) as error:
        call()
    assert "\n" not in str(error.value)


def test_messages_name_object_and_field_but_never_the_value() -> None:
    fields = Fields({"key": "s3cr3t-value"}, "keyring 1a2b")
    with pytest.raises(FormatError) as error:
        fields.get_bytes("key", 32)
    message = str(error.value)
    assert "keyring 1a2b field 'key'" in message and "a string" in message
    assert "s3cr3t" not in message


def test_defaults_and_optional() -> None:
    fields = Fields({"n": None, "m": 3}, "tree")
    assert fields.get_int("absent", 0, 5, default=4) == 4
    assert fields.get_optional("n", require_id) is None
    assert fields.get_int("m", 0, 5) == 3
    with pytest.raises(FormatError):
        fields.get_int("n", default=1)  # present but null is not "absent"
    assert checker(require_str, max_len=2)("ab", "x") == "ab"
