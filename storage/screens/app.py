"""The plant-floor screens, served under /screens by the query API's server (and GS1 Digital
Link paths at the root): server-rendered HTML (Jinja2), a stylesheet and htmx from the
package, no CDN and no build step.

Every page runs its named queries through ``storage.service.run_query`` with the signed-in
token's scope (``storage.access.scoped_params``), as the API does: a line-scoped token sees
its line only, and naming another is refused (403). Pages are plain ``def`` endpoints, so
FastAPI runs them in its thread pool while they wait on the store. Sign-in, sessions and
CSRF: ``storage.screens.session``; what the pages show: ``storage.screens.pages``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import FastAPI, Request
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from ingest.errors import InvalidInput, NotFound, StorageError
from ingest.plant import Plant
from ingest.posting import EventPoster
from ingest.schema import HOLD_TYPES
from ingest.settings import Settings
from ingest.tokenfile import TokenFile
from ingest.tokens import Token
from storage.access import Forbidden, scoped_params
from storage.client import Store
from storage.ratelimit import RateLimiter, retry_after
from storage.screens.session import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    SIGN_IN_FORM_S,
    CookieFlags,
    Session,
    Sessions,
    csrf_ok,
    safe_next,
    session_key,
    token_of,
)
from storage.service import run_query

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
# A sign-in or sign-out form is a few hundred bytes; anything larger is not one.
MAX_FORM_BYTES = 8 * 1024
# Pages name only this server: scripts, styles and forms (htmx is served from /screens/static).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Viewer:
    """Who is looking: the signed-in token (its scope filters every page) and the session."""

    token: Token
    session: Session

    @property
    def csrf(self) -> str:
        return self.session.csrf


class Screens:
    """What the screens need: the store, the tokens file, the session key and hours, the
    addresses people and labels use, the plant once the sink has read it, and the poster
    their actions publish through."""

    def __init__(
        self,
        store: Store,
        tokens: TokenFile,
        sessions: Sessions,
        public_base_url: str = "",
        digital_link_domain: str = "https://id.gs1.org",
        plant: Callable[[], Plant | None] = lambda: None,
        limiter: RateLimiter | None = None,
        poster: EventPoster | None = None,
    ):
        self.store, self.tokens, self.sessions = store, tokens, sessions
        self.poster = poster  # None: a server that shows the trace but posts no event
        self.public_base_url = public_base_url.rstrip("/")
        self.digital_link_domain = digital_link_domain.rstrip("/")
        self.plant = plant
        self.limiter = limiter
        self.templates = Environment(
            loader=PackageLoader("storage.screens", "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals["csrf_field"] = CSRF_FIELD
        self.templates.globals["hold_type_names"] = HOLD_TYPES

    @classmethod
    def of(
        cls,
        settings: Settings,
        store: Store,
        tokens: TokenFile,
        limiter: RateLimiter | None = None,
        plant: Callable[[], Plant | None] = lambda: None,
        poster: EventPoster | None = None,
    ) -> Screens:
        key = session_key(Path(settings.api_tokens_file + ".session-key"))
        return cls(
            store,
            tokens,
            Sessions(key, settings.session_hours),
            settings.public_base_url,
            settings.digital_link_domain,
            plant,
            limiter,
            poster,
        )

    # -- who is asking -------------------------------------------------------------------

    def viewer(self, request: Request) -> Viewer | Response:
        """The signed-in viewer, or the answer that sends the browser to sign in (a session
        that expired, or whose token was revoked, is no session)."""
        session = self.sessions.read(request.cookies.get(SESSION_COOKIE))
        token = token_of(self.tokens.current(), session.token_sha256) if session else None
        if session is None or token is None:
            return self._to_sign_in(request)
        if self.limiter is not None and (wait := self.limiter.admit(token.name)):
            after = retry_after(wait)
            busy = self.page(
                request, "error.html", 429, None, title="Too many requests", detail=f"retry in {after} s"
            )
            busy.headers["Retry-After"] = str(after)
            return busy
        return Viewer(token, session)

    def _to_sign_in(self, request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        where = "/screens/sign-in?" + urlencode({"next": target})
        if request.headers.get("hx-request"):  # a polled fragment: send the whole page there
            answer = Response(status_code=401, headers={"HX-Redirect": where})
        else:
            answer = RedirectResponse(where, status_code=303)
        answer.delete_cookie(SESSION_COOKIE, path="/")
        return answer

    def ask(self, viewer: Viewer, name: str, **params: Any) -> Any:
        """A named query's answer, within the viewer's scope (as the API answers it)."""
        raw = {k: str(v) for k, v in params.items() if v is not None and v != ""}
        return run_query(self.store, name, scoped_params(viewer.token.scope, name, raw))

    # -- answers ------------------------------------------------------------------------

    def page(
        self, request: Request, template: str, status: int, viewer: Viewer | None, **context: Any
    ) -> HTMLResponse:
        html = self.templates.get_template(template).render(
            viewer=viewer,
            scope=str(viewer.token.scope) if viewer else "",
            csrf=viewer.csrf if viewer else "",
            path=request.url.path,
            back_path=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            **context,
        )
        return HTMLResponse(html, status, headers=SECURITY_HEADERS)

    def guarded(self, request: Request, build: Callable[[Viewer], Response]) -> Response:
        """A page for a signed-in viewer; a question outside the scope, a mistake in it, or an
        unknown item or job answered as a page that says so."""
        viewer = self.viewer(request)
        if not isinstance(viewer, Viewer):
            return viewer
        try:
            return build(viewer)
        except Forbidden as exc:
            log.info("screens: token %s refused: %s", viewer.token.name, exc.detail)
            return self.page(request, "error.html", 403, viewer, title="Not in your scope", detail=exc.detail)
        except NotFound as exc:
            return self.page(request, "error.html", 404, viewer, title="Not found", detail=exc.detail)
        except InvalidInput as exc:
            return self.page(request, "error.html", 400, viewer, title="Not a question", detail=exc.detail)
        except StorageError as exc:
            log.error("screens: %s failed: %s", request.url.path, exc)
            return self.page(request, "error.html", 500, viewer, title="The store failed", detail=str(exc))

    def base_url(self, request: Request) -> str:
        """Where people reach linetrace: the setting, else the address this request came to."""
        return self.public_base_url or str(request.base_url).rstrip("/")

    def job_card_url(self, request: Request, site: str, line: str, job: str) -> str:
        return f"{self.base_url(request)}{job_card_path(site, line, job)}"


def job_card_path(site: str, line: str, job: str) -> str:
    return f"/screens/jobs/{quote(site, safe='')}/{quote(line, safe='')}/{quote(job, safe='')}"


def add_screens(app: FastAPI, screens: Screens) -> None:
    """The sign-in, the pages (``storage.screens.pages``), the actions
    (``storage.screens.actions``) and the static files."""
    from storage.screens import actions, labels, lineviews, pages, recall

    app.mount("/screens/static", StaticFiles(directory=STATIC), name="screens-static")
    _add_sign_in(app, screens)
    pages.add_pages(app, screens)
    lineviews.add_line_views(app, screens)
    recall.add_recall(app, screens)
    labels.add_labels(app, screens)
    actions.add_actions(app, screens)


def _add_sign_in(app: FastAPI, screens: Screens) -> None:
    @app.get("/screens/sign-in", include_in_schema=False)
    def sign_in_form(request: Request, next: str = "/screens/") -> Response:
        return _sign_in_page(request, screens, safe_next(next), 200, "")

    @app.post("/screens/sign-in", include_in_schema=False)
    async def sign_in(request: Request) -> Response:
        form = await read_form(request)
        if form is None:
            return Response("a sign-in form is small", status_code=413)
        target = safe_next(form.get("next"))
        if not screens.sessions.sign_in_allowed(request.cookies.get(SIGN_IN_COOKIE), form.get(CSRF_FIELD)):
            return _sign_in_page(request, screens, target, 403, "The form had expired; sign in again.")
        token = await run_in_threadpool(screens.tokens.find, form.get("token", "").strip())
        if token is None:
            return _sign_in_page(request, screens, target, 401, "That token is not known here.")
        cookie, _ = screens.sessions.issue(token)
        answer = RedirectResponse(target, status_code=303)
        flags = CookieFlags(screens.sessions.max_age_s, request.url.scheme == "https")
        answer.set_cookie(
            SESSION_COOKIE,
            cookie,
            max_age=flags.max_age_s,
            path="/",
            secure=flags.secure,
            httponly=True,
            samesite="lax",
        )
        answer.delete_cookie(SIGN_IN_COOKIE, path="/screens/sign-in")
        log.info("screens: token %s signed in", token.name)
        return answer

    @app.post("/screens/sign-out", include_in_schema=False)
    async def sign_out(request: Request) -> Response:
        form = await read_form(request)
        session = screens.sessions.read(request.cookies.get(SESSION_COOKIE))
        if form is None or session is None or not csrf_ok(session, form.get(CSRF_FIELD)):
            return Response("refused: the form's CSRF token is missing or wrong", status_code=403)
        answer = RedirectResponse("/screens/sign-in", status_code=303)
        answer.delete_cookie(SESSION_COOKIE, path="/")
        return answer


def _sign_in_page(request: Request, screens: Screens, target: str, status: int, problem: str) -> Response:
    nonce, cookie = screens.sessions.sign_in_form()
    answer = screens.page(
        request, "sign_in.html", status, None, next=target, form_csrf=nonce, problem=problem
    )
    answer.set_cookie(
        SIGN_IN_COOKIE,
        cookie,
        max_age=SIGN_IN_FORM_S,
        path="/screens/sign-in",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return answer


async def read_form(request: Request, limit: int = MAX_FORM_BYTES) -> dict[str, str] | None:
    """The fields of a posted form (urlencoded), or None when it is larger than ``limit``."""
    length = request.headers.get("content-length")
    if length is None or not length.isdigit() or int(length) > limit:
        return None
    body = await request.body()
    if len(body) > limit:
        return None
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}
