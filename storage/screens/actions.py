"""Actions from the screens: place and release a hold (on items, or on a recall's whole
scope), record a QC result, open and resolve a blocker, report a delay, create a job.

Each is a form posted to ``/screens/act/<action>`` with the session's CSRF token. It becomes
the wire event the CLI and the API post (``storage.screens.actionforms``) and is taken as the
API takes it (``storage.eventcheck.take_event``: checked against the plant, then against the
signed-in token's scope, then published and acknowledged by the broker). The answer says
what happened, or why not, with the status the API would give (202, 400, 403, 503): a
fragment where htmx posted the form (it is swapped into the form), else a page.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from confluent_kafka import KafkaException
from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ingest.errors import InvalidInput, NotFound, StorageError
from ingest.timefmt import now_us
from storage.access import Forbidden
from storage.eventcheck import take_event
from storage.screens.actionforms import FORM_ACTIONS, Action, field, hold_placed, hold_released
from storage.screens.app import Screens, Viewer, read_form
from storage.screens.session import CSRF_FIELD, csrf_ok, safe_next

log = logging.getLogger(__name__)

# A hold's form may list a few hundred item keys; a recall's hold names its scope server-side.
ACTION_FORM_BYTES = 64 * 1024
ACTIONS = (*FORM_ACTIONS, "release", "recall-hold")


@dataclass(frozen=True)
class Outcome:
    status: int  # as the API answers the same event
    accepted: bool
    text: str


def add_actions(app: FastAPI, screens: Screens) -> None:
    @app.post("/screens/act/{action}", include_in_schema=False)
    async def act(request: Request, action: str) -> Response:
        viewer = screens.viewer(request)
        if not isinstance(viewer, Viewer):
            return viewer
        form = await read_form(request, ACTION_FORM_BYTES)
        if form is None:
            outcome = Outcome(413, False, "The form is too large.")
        elif not csrf_ok(viewer.session, form.get(CSRF_FIELD)):
            outcome = Outcome(
                403, False, "Refused: the form's CSRF token is missing or wrong; reload the page."
            )
        elif action not in ACTIONS:
            outcome = Outcome(404, False, f"No action {action!r}.")
        else:
            outcome = await run_in_threadpool(take, screens, viewer, action, form)
        if request.headers.get("hx-request"):
            return screens.page(request, "outcome.html", outcome.status, viewer, outcome=outcome)
        back = safe_next((form or {}).get("back"))
        return screens.page(request, "action.html", outcome.status, viewer, outcome=outcome, back=back)


def take(screens: Screens, viewer: Viewer, action: str, form: Mapping[str, str]) -> Outcome:
    """Post the action's event as the API would; what became of it."""
    if screens.poster is None:
        return Outcome(503, False, "This server does not post events (no broker configured).")
    try:
        event = action_of(screens, viewer, action, form)
        take_event(screens.store, screens.poster, viewer.token, event.kind, event.payload)
    except InvalidInput as exc:
        return Outcome(400, False, f"Refused ({exc.reason}): {exc.detail}")
    except Forbidden as exc:
        log.info("screens: token %s may not post %s: %s", viewer.token.name, action, exc.detail)
        return Outcome(403, False, f"Refused: {exc.detail}")
    except NotFound as exc:
        return Outcome(404, False, f"Refused ({exc.reason}): {exc.detail}")
    except KafkaException as exc:
        log.error("screens: %s not published: %s", action, exc)
        return Outcome(503, False, "Not posted: the broker did not take it; try again.")
    except StorageError as exc:
        log.error("screens: %s: the store failed: %s", action, exc)
        return Outcome(500, False, f"Not posted: the store failed ({exc}).")
    log.info("screens: token %s posted %s: %s", viewer.token.name, action, event.done)
    return Outcome(202, True, f"Accepted: {event.done}.")


def action_of(screens: Screens, viewer: Viewer, action: str, form: Mapping[str, str]) -> Action:
    """The event of an action; a release and a recall's hold read what they name first."""
    now = now_us()
    if action == "release":
        placed = screens.ask(viewer, "hold", hold_id=field(form, "hold_id"))
        return hold_released(form, now, placed)
    if action == "recall-hold":
        scope = screens.ask(viewer, "recall", item=field(form, "item"))
        return hold_placed(form, now, tuple(str(r["item"]) for r in scope))
    return FORM_ACTIONS[action](form, now)
