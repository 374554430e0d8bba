"""The local backend keeps the Backend contract."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from keyark.backends.local import LocalBackend
from keyark.backends.registry import open_backend
from keyark.errors import AlreadyExistsError, MissingExtraError, NotFoundError, UsageError


def test_put_get_list_delete(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "r")
    backend.put("data/ab/abcd", b"0123456789")
    assert backend.get("data/ab/abcd", 2, 3) == b"234"
    assert backend.get("data/ab/abcd", 8, 100) == b"89"
    assert backend.get("data/ab/abcd", 50) == b""
    assert backend.stat("data/ab/abcd").size == 10
    backend.put("data/ab/abcd", b"0123456789")  # identical content: fine
    with pytest.raises(AlreadyExistsError):
        backend.put("data/ab/abcd", b"other")
    backend.put("config", b"v1")
    backend.put("config", b"v2", overwrite=True)
    assert backend.get("config") == b"v2"
    (tmp_path / "r" / "data" / "ab" / ".tmp-leftover").write_bytes(b"x")
    assert sorted(i.name for i in backend.list("data/")) == ["data/ab/abcd"]
    backend.delete("data/ab/abcd")
    with pytest.raises(NotFoundError):
        backend.get("data/ab/abcd")
    with pytest.raises(NotFoundError):
        backend.delete("data/ab/abcd")
    with pytest.raises(ValueError):
        backend.get("../escape")


def test_modes(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "r")
    backend.put("keys/x", b"k")
    assert stat.S_IMODE(os.stat(tmp_path / "r" / "keys" / "x").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "r" / "keys").st_mode) == 0o700


def test_registry(tmp_path: Path) -> None:
    assert isinstance(open_backend(f"file://{tmp_path}"), LocalBackend)
    with pytest.raises(UsageError):
        open_backend("nope://x")


def test_missing_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("keyark.backends.s3") or name == "boto3":
            raise ImportError("no boto3", name="boto3")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.delitem(__import__("sys").modules, "keyark.backends.s3", raising=False)
    with pytest.raises(MissingExtraError, match=r"keyark\[s3\]"):
        open_backend("s3://bucket/prefix")
