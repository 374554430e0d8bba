"""The access core: API tokens, users, sessions and TOTP against a real ``access.db``."""

from __future__ import annotations

import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from keyark.access import sessions, tokens, totp
from keyark.access.enrolment import check_host
from keyark.access.permissions import Principal, Role
from keyark.access.sessions import SessionStore
from keyark.access.store import FILE_NAME
from keyark.access.tokens import TOKEN_PREFIX, TokenStore, check_name
from keyark.access.users import UserStore
from keyark.errors import AuthenticationError, UnknownResourceError, UsageError


def test_token_is_shown_once_stored_as_argon2id_and_authenticates(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    issued = store.create("ci", Role.OPERATOR)
    assert issued.token.startswith(TOKEN_PREFIX) and len(issued.token) > 60
    assert issued.token not in repr(issued)
    database = (tmp_path / FILE_NAME).read_bytes()
    assert issued.token.encode() not in database and b"$argon2id$" in database
    assert stat.S_IMODE((tmp_path / FILE_NAME).stat().st_mode) == 0o600
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700
    assert store.authenticate(issued.token) == Principal("token:ci", Role.OPERATOR)
    # A second process (a fresh store) checks the hash itself.
    assert TokenStore(tmp_path).authenticate(issued.token).role is Role.OPERATOR
    listed = store.tokens()
    assert [t.name for t in listed] == ["ci"] and listed[0].last_used is not None
    assert issued.token not in str(listed[0].to_dict())


def test_wrong_malformed_and_foreign_tokens_are_refused(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    issued = store.create("ci", Role.ADMIN)
    store.authenticate(issued.token)  # cached after a success
    forged = issued.token[:-4] + ("AAAA" if not issued.token.endswith("AAAA") else "BBBB")
    for token in (forged, "kya_nothing", "", issued.token + "x"):
        with pytest.raises(AuthenticationError):
            store.authenticate(token)
    with pytest.raises(AuthenticationError):
        TokenStore(tmp_path).authenticate(forged)  # uncached: the Argon2id check refuses


def test_revoked_token_is_refused_at_once_in_every_process(tmp_path: Path) -> None:
    server, admin = TokenStore(tmp_path), TokenStore(tmp_path)
    issued = server.create("ci", Role.VIEWER)
    server.authenticate(issued.token)
    admin.revoke("ci")  # another process: the server's cache must not keep it alive
    with pytest.raises(AuthenticationError):
        server.authenticate(issued.token)
    assert server.tokens() == [] and server.tokens(include_revoked=True)[0].status() == "revoked"
    with pytest.raises(UnknownResourceError):
        admin.revoke("ci")
    assert server.create("ci", Role.VIEWER).token != issued.token  # the name is free again


def _clock_ahead(monkeypatch: pytest.MonkeyPatch, module: object, ahead: timedelta) -> None:
    """Move ``module``'s clock (its ``now_utc``) forward by ``ahead``."""
    monkeypatch.setattr(module, "now_utc", lambda: datetime.now(UTC) + ahead)


def test_expired_token_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = TokenStore(tmp_path)
    issued = store.create("short", Role.VIEWER, lifetime=timedelta(hours=1))
    assert store.authenticate(issued.token).name == "token:short"  # cached from here on
    _clock_ahead(monkeypatch, tokens, timedelta(minutes=59))
    assert store.authenticate(issued.token).name == "token:short"
    _clock_ahead(monkeypatch, tokens, timedelta(hours=1, seconds=1))
    with pytest.raises(AuthenticationError):
        store.authenticate(issued.token)
    assert store.tokens()[0].status() == "expired"


def test_token_names_are_checked_and_unique(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    store.create("ci", Role.VIEWER)
    with pytest.raises(UsageError, match="exists"):
        store.create("ci", Role.ADMIN)
    for bad in ("", "a b", "-x", "x" * 65, "a/b"):
        with pytest.raises(UsageError):
            store.create(bad, Role.VIEWER)
    with pytest.raises(UsageError):
        store.create("neg", Role.VIEWER, lifetime=timedelta(0))


def test_name_and_host_rules_each_say_what_is_wrong_in_their_own_words() -> None:
    assert check_name("user", "a@b.c-d_e") == "a@b.c-d_e"
    assert check_host("b.c-d_e") == "b.c-d_e"
    with pytest.raises(UsageError) as name:
        check_name("token", "-x")
    assert str(name.value) == (
        "token name '-x': use 1-64 letters, digits, '.', '_', '-' or '@', "
        "starting with a letter or digit"
    )
    with pytest.raises(UsageError) as host:
        check_host("a@b")  # '@' is a name's, not a host's
    assert str(host.value) == (
        "host name 'a@b': use 1-64 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit"
    )


def test_user_password_and_totp_each_code_once(tmp_path: Path) -> None:
    users = UserStore(tmp_path)
    plain = users.add("alice", Role.AUDITOR, "alice password")
    assert plain.totp_uri is None
    assert users.verify("alice", "alice password") == Principal("user:alice", Role.AUDITOR)
    with pytest.raises(AuthenticationError):
        users.verify("alice", "wrong password")
    with pytest.raises(AuthenticationError):
        users.verify("nobody", "alice password")
    added = users.add("bob", Role.ADMIN, "bob password", with_totp=True)
    assert added.totp_uri is not None and added.totp_uri.startswith("otpauth://totp/")
    assert added.totp_uri not in repr(added)
    secret = users.totp_secret("bob")
    assert secret is not None and secret in added.totp_uri
    with pytest.raises(AuthenticationError):
        users.verify("bob", "bob password")  # the code is required
    with pytest.raises(AuthenticationError):
        users.verify("bob", "bob password", "000000" if totp.code_at(secret) != "000000" else "1")
    code = totp.code_at(secret)
    assert users.verify("bob", "bob password", code).role is Role.ADMIN
    with pytest.raises(AuthenticationError):
        users.verify("bob", "bob password", code)  # replayed
    with pytest.raises(AuthenticationError):
        users.verify("bob", "wrong password", totp.code_at(secret, time.time() + 30))
    assert [u.name for u in users.users()] == ["alice", "bob"]
    assert b"bob password" not in (tmp_path / FILE_NAME).read_bytes()


def test_user_checks_and_removal_end_sessions(tmp_path: Path) -> None:
    users, sessions = UserStore(tmp_path), SessionStore(tmp_path)
    with pytest.raises(UsageError, match="at least"):
        users.add("carol", Role.VIEWER, "short")
    users.add("carol", Role.VIEWER, "carol password")
    with pytest.raises(UsageError, match="exists"):
        users.add("carol", Role.VIEWER, "carol password")
    session = sessions.create(Principal("user:carol", Role.VIEWER))
    assert sessions.lookup(session.session_id) == session
    users.set_password("carol", "another password")
    assert sessions.lookup(session.session_id) is None  # a new password ends sessions
    session = sessions.create(Principal("user:carol", Role.VIEWER))
    users.remove("carol")
    assert sessions.lookup(session.session_id) is None
    with pytest.raises(UnknownResourceError):
        users.remove("carol")


def test_sessions_expire_and_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SessionStore(tmp_path, lifetime=timedelta(hours=8))
    session = store.create(Principal("user:dave", Role.OPERATOR))
    assert session.session_id not in repr(session) and session.csrf_token not in repr(session)
    assert session.session_id.encode() not in (tmp_path / FILE_NAME).read_bytes()
    assert store.lookup(session.session_id) == session
    assert store.lookup(session.session_id + "x") is None
    _clock_ahead(monkeypatch, sessions, timedelta(hours=7, minutes=59))
    assert store.lookup(session.session_id) == session
    _clock_ahead(monkeypatch, sessions, timedelta(hours=8, seconds=1))
    assert store.lookup(session.session_id) is None
    monkeypatch.undo()
    assert store.lookup(session.session_id) is None  # an expired session is gone for good
    other = SessionStore(tmp_path).create(Principal("user:dave", Role.OPERATOR))
    store.end(other.session_id)
    assert store.lookup(other.session_id) is None
