"""FTP/FTPS specifics: TLS trust, login errors, LIST fallback, temp names, non-atomic replace."""

from __future__ import annotations

import ftplib
import os
import secrets
import time
from pathlib import Path

import pytest

from keyark import ops
from keyark.backends.base import delete_temporary, list_temporary
from keyark.backends.ftp import FTPBackend, parse_list_line
from keyark.backends.registry import BackendOptions
from keyark.config import with_environment
from keyark.crypto.slots import Credentials
from keyark.errors import NotFoundError, PermanentBackendError
from keyark.maintenance.repair_state import repair_state
from keyark.maintenance.rotate import rotate
from keyark.testing import CHECKS, ContractOptions

from .servers import FTPInfo, open_backend, unique


def _open(info: FTPInfo, scheme: str, **settings: object) -> FTPBackend:
    url = f"{scheme}://{info.user}@127.0.0.1:{info.port}/{unique(scheme)}"
    backend = open_backend(url, BackendOptions(dict(settings)))
    assert isinstance(backend, FTPBackend)
    return backend


def test_password_from_environment(ftps_server: FTPInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYARK_FTP_PASSWORD", ftps_server.password)
    backend = _open(ftps_server, "ftps", ftp_ca_file=str(ftps_server.ca_file))
    backend.put("config", b"tls")
    assert backend.get("config") == b"tls"
    assert ftps_server.password not in backend.location()
    backend.close()


def test_untrusted_certificate_refused(
    ftps_server: FTPInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYARK_FTP_PASSWORD", ftps_server.password)
    backend = _open(ftps_server, "ftps")  # system trust store: self-signed cert unknown
    with pytest.raises(PermanentBackendError, match="not trusted"):
        backend.stat("config")


def test_plain_ftp_to_tls_only_server_refused(
    ftps_server: FTPInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYARK_FTP_PASSWORD", ftps_server.password)
    with pytest.raises(PermanentBackendError, match="login failed"):
        _open(ftps_server, "ftp").stat("config")


def test_wrong_password(ftp_server: FTPInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = secrets.token_hex(8)
    monkeypatch.setenv("KEYARK_FTP_PASSWORD", wrong)
    with pytest.raises(PermanentBackendError, match="login failed for user keyark") as caught:
        _open(ftp_server, "ftp").stat("config")
    assert wrong not in str(caught.value)


@pytest.mark.parametrize("check", ["listing", "many_keys", "delete"])
def test_list_fallback_without_mlsd(
    ftp_server: FTPInfo, monkeypatch: pytest.MonkeyPatch, check: str
) -> None:
    monkeypatch.setenv("KEYARK_FTP_PASSWORD", ftp_server.password)
    backend = _open(ftp_server, "ftp")
    backend._mlsd = False  # as with servers that lack MLSD (vsftpd)
    CHECKS[check](backend, "contract/", ContractOptions(many_keys=30))
    backend.close()


def test_temp_names_never_listed(ftp_server: FTPInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYARK_FTP_PASSWORD", ftp_server.password)
    backend = _open(ftp_server, "ftp")
    backend.put("snapshots/aa", b"x")
    directory = Path(ftp_server.root) / backend.root.strip("/") / "snapshots"
    (directory / ".tmp-0011223344556677").write_bytes(b"partial")
    assert [info.name for info in backend.list("")] == ["snapshots/aa"]
    backend.close()


def test_temporaries_listed_aged_and_removed(
    ftp_server: FTPInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unfinished put's ``.tmp-*`` is listed with its MDTM age, so prune can remove it."""
    monkeypatch.setenv("KEYARK_FTP_PASSWORD", ftp_server.password)
    backend = _open(ftp_server, "ftp")
    backend.put("data/ab/" + "ab" * 32, b"pack")
    directory = Path(ftp_server.root) / backend.root.strip("/") / "data" / "ab"
    stale = directory / ".tmp-0011223344556677"
    stale.write_bytes(b"partial")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    (directory / ".tmp-fresh").write_bytes(b"in flight")
    found = {t.name: t for t in list_temporary(backend)}
    assert set(found) == {"data/ab/.tmp-0011223344556677", "data/ab/.tmp-fresh"}
    assert found["data/ab/.tmp-0011223344556677"].age_seconds >= 3500
    assert found["data/ab/.tmp-fresh"].age_seconds < 600  # positive control: ages differ
    with pytest.raises(ValueError):
        delete_temporary(backend, "data/ab/" + "ab" * 32)
    delete_temporary(backend, "data/ab/.tmp-0011223344556677")
    assert [t.name for t in list_temporary(backend)] == ["data/ab/.tmp-fresh"]
    assert backend.get("data/ab/" + "ab" * 32) == b"pack"
    backend.close()


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("-rw-r--r--   1 owner group       1234 Jan 01 12:00 abc def", ("abc def", False, 1234)),
        ("drwx------   2 owner group       4096 Jan 01  2024 data", ("data", True, 4096)),
        ("lrwxrwxrwx   1 owner group         10 Jan 01 12:00 link -> x", None),
        ("01-01-24  12:00PM                  77 config", None),
        ("total 12", None),
    ],
)
def test_parse_list_line(line: str, parsed: tuple[str, bool, int] | None) -> None:
    assert parse_list_line(line) == parsed


class _Killed(BaseException):
    """The process dies here (a BaseException: no handler on the way out catches it)."""


@pytest.mark.parametrize("victim", ["keyring", "config"])
def test_crash_between_delete_and_rename_leaves_an_openable_repository(
    ftp_server: FTPInfo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, victim: str
) -> None:
    """A server that refuses RNTO onto a file makes overwrite=True a DELE, then an RNTO:
    the process dies between the two while saving ``victim``, and the copy opens it."""
    monkeypatch.setenv("KEYARK_FTP_PASSWORD", ftp_server.password)
    url = f"ftp://{ftp_server.user}@127.0.0.1:{ftp_server.port}/{unique('ftp')}/repo"
    credentials = Credentials(passphrase=b"pw")
    options = with_environment(url)  # the password, as a face resolves it
    ops.init_repository(url, b"pw", pack_size_mib=1, backend_options=options).close()
    real_rename = ftplib.FTP.rename
    renames: list[str] = []

    def rename(ftp: ftplib.FTP, fromname: str, toname: str) -> str:
        if toname.endswith(f"/{victim}"):
            renames.append(toname)
            if len(renames) == 1:
                raise ftplib.error_perm("553 rename onto an existing file refused")
            raise _Killed  # after the DELE of the old object, before the RNTO of the new one
        return real_rename(ftp, fromname, toname)

    with ops.open_repository(url, credentials, options, cache_dir=tmp_path / "cache") as repo:
        assert repo.backend.capabilities().atomic_replace is False
        version = repo.keys.keyring.version
        monkeypatch.setattr(ftplib.FTP, "rename", rename)
        with pytest.raises(_Killed):
            if victim == "keyring":
                rotate(repo)
            else:
                repo.config.policies["note"] = "changed"
                repo.save_config()
        monkeypatch.setattr(ftplib.FTP, "rename", real_rename)
    assert len(renames) == 2  # the crash came after the DELE: the primary is gone
    backend = open_backend(url)
    try:
        with pytest.raises(NotFoundError):
            backend.stat(victim)
        assert backend.get(f"{victim}.bak")  # written (and read back) first
    finally:
        backend.close()

    with ops.open_repository(url, credentials, options, cache_dir=tmp_path / "cache") as repo:
        # The copy holds the new state: the repository opens with it.
        if victim == "keyring":
            assert repo.keys.keyring.version == version + 1
        else:
            assert repo.config.policies.get("note") == "changed"
        assert victim in repair_state(repo).rewritten
    with ops.open_repository(url, credentials, options, cache_dir=tmp_path / "cache") as repo:
        assert repo.backend.get(victim) == repo.backend.get(f"{victim}.bak")
