"""Screens sessions: signed, expiring, naming a token by its hash; CSRF tokens per session."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeTimedSerializer

from ingest.tokens import Scope, Token, hash_token
from storage.screens.session import Sessions, csrf_ok, safe_next, token_of

TOKEN = Token("line-a", hash_token("lt_secret"), Scope("S1", "L1"))


def test_a_session_names_its_token_by_hash_and_carries_its_own_csrf_token() -> None:
    sessions = Sessions(b"k" * 32, 12)
    cookie, session = sessions.issue(TOKEN)
    assert "lt_secret" not in cookie
    assert sessions.read(cookie) == session and session.token_sha256 == TOKEN.sha256
    assert token_of([TOKEN], session.token_sha256) == TOKEN
    assert token_of([], session.token_sha256) is None  # revoked
    assert csrf_ok(session, session.csrf)
    assert sessions.issue(TOKEN)[1].csrf != session.csrf


@pytest.mark.parametrize(
    "cookie",
    [
        pytest.param(None, id="no cookie"),
        pytest.param("", id="empty"),
        pytest.param("not.a.session", id="garbage"),
        pytest.param(
            URLSafeTimedSerializer(b"x" * 32, salt="linetrace-screens-session").dumps(["a", "b"]),
            id="signed with another key",
        ),
    ],
)
def test_a_cookie_not_signed_here_is_no_session(cookie: str | None) -> None:
    assert Sessions(b"k" * 32, 12).read(cookie) is None


def test_a_session_older_than_its_hours_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    sessions = Sessions(b"k" * 32, 1)
    cookie, _ = sessions.issue(TOKEN)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 3600 - 5)
    assert sessions.read(cookie) is not None
    monkeypatch.setattr(time, "time", lambda: now + 3600 + 5)
    assert sessions.read(cookie) is None


@pytest.mark.parametrize(
    ("presented", "ok"),
    [
        pytest.param(None, False, id="missing"),
        pytest.param("", False, id="empty"),
        pytest.param("guess", False, id="wrong"),
    ],
)
def test_a_form_without_the_sessions_csrf_token_is_refused(presented: str | None, ok: bool) -> None:
    _, session = Sessions(b"k" * 32, 12).issue(TOKEN)
    assert csrf_ok(session, presented) is ok


def test_the_sign_in_form_pairs_its_field_with_its_cookie() -> None:
    sessions = Sessions(b"k" * 32, 12)
    field, cookie = sessions.sign_in_form()
    assert sessions.sign_in_allowed(cookie, field)
    assert not sessions.sign_in_allowed(cookie, "other")
    assert not sessions.sign_in_allowed(None, field)
    assert not sessions.sign_in_allowed(sessions.sign_in_form()[1], field)


@pytest.mark.parametrize(
    ("target", "goes_to"),
    [
        pytest.param("/screens/board/S1/L1", "/screens/board/S1/L1", id="a page here"),
        pytest.param("https://elsewhere.example/", "/screens/", id="another site"),
        pytest.param("//elsewhere.example/", "/screens/", id="scheme-relative"),
        pytest.param(None, "/screens/", id="none"),
    ],
)
def test_after_sign_in_only_pages_of_this_server(target: str | None, goes_to: str) -> None:
    assert safe_next(target) == goes_to
