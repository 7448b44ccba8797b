"""Sign-in to the screens: a query API token, entered once, becomes a signed session cookie.

The cookie holds the token's sha256 (never the token) and the session's CSRF token, signed
with the screens' key (itsdangerous) and stamped with its issue time: it is refused once it
is older than ``session_hours``, and on every request the token it names must still be in
the tokens file, so revoking the token ends its sessions at once. Every form carries the
CSRF token in a hidden field and a POST without the session's own is refused; the sign-in
form, which has no session yet, pairs its hidden field with a short-lived cookie of its own
(double submit). Pure functions but for ``session_key``.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer

from ingest.tokens import Token

log = logging.getLogger(__name__)

SESSION_COOKIE = "linetrace_session"
SIGN_IN_COOKIE = "linetrace_sign_in"
CSRF_FIELD = "csrf"
# Long enough to type or paste a token, short enough that a stale sign-in form is refused.
SIGN_IN_FORM_S = 15 * 60


@dataclass(frozen=True)
class Session:
    token_sha256: str
    csrf: str


@dataclass(frozen=True)
class CookieFlags:
    """How the session cookie is set: HttpOnly (no script reads it), SameSite=Lax (a phone's
    scan of a traveler's QR code is a top-level GET and keeps the session; a cross-site POST
    does not carry it), Secure when the request came over TLS."""

    max_age_s: int
    secure: bool


class Sessions:
    """Issues and reads session cookies and sign-in form tokens."""

    def __init__(self, key: bytes, hours: float):
        self._sessions = URLSafeTimedSerializer(key, salt="linetrace-screens-session")
        self._sign_in = URLSafeTimedSerializer(key, salt="linetrace-screens-sign-in")
        self.max_age_s = max(1, int(hours * 3600))

    def issue(self, token: Token) -> tuple[str, Session]:
        """A new session of ``token``: the cookie's value and the session."""
        session = Session(token.sha256, secrets.token_urlsafe(24))
        return self._sessions.dumps([session.token_sha256, session.csrf]), session

    def read(self, cookie: str | None) -> Session | None:
        """The session of a cookie, or None: absent, forged, or older than the session hours."""
        if not cookie:
            return None
        try:
            digest, csrf = self._sessions.loads(cookie, max_age=self.max_age_s)
        except (BadSignature, ValueError, TypeError):
            return None
        return Session(str(digest), str(csrf))

    def sign_in_form(self) -> tuple[str, str]:
        """The sign-in form's CSRF token and the cookie value that must come back with it."""
        nonce = secrets.token_urlsafe(24)
        return nonce, self._sign_in.dumps(nonce)

    def sign_in_allowed(self, cookie: str | None, field: str | None) -> bool:
        """Whether a posted sign-in form is the one this browser was given."""
        if not cookie or not field:
            return False
        try:
            nonce = self._sign_in.loads(cookie, max_age=SIGN_IN_FORM_S)
        except (BadSignature, ValueError, TypeError):
            return False
        return hmac.compare_digest(str(nonce), field)


def csrf_ok(session: Session, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(session.csrf, presented or "")


def token_of(tokens: Iterable[Token], sha256: str) -> Token | None:
    """The token of the tokens file that a session names (None once it is revoked)."""
    found = None
    for token in tokens:
        if hmac.compare_digest(token.sha256, sha256):
            found = token
    return found


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this server only (never another host)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/screens/"


def session_key(path: Path) -> bytes:
    """The key sessions are signed with, kept beside the tokens file so sessions survive a
    restart of the sink; a new one if the file is missing. Where it cannot be written (a
    read-only Secret mount) the key lives in this process only: a restart asks everyone to
    sign in again."""
    try:
        key = path.read_bytes().strip()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32).encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
    except OSError as exc:
        log.warning("screens: session key not kept (%s); a restart signs everyone out", exc)
    return key
