"""A posted event taken as the API and the screens take it: validated against the plant
(``ingest.posting.EventPoster``), checked against the poster's scope (the line it names, and
the lines of the items it names), then published."""

from __future__ import annotations

from ingest.names import check_hold_placed
from ingest.posting import EventPoster, PostedEvent
from ingest.tokens import Token
from storage import queries
from storage.access import check_event
from storage.client import Store


def take_event(store: Store, poster: EventPoster, token: Token, kind: str, payload: bytes) -> PostedEvent:
    """Validate, check the scope (the items' places), publish; the event, once the broker has it.
    InvalidInput names what is wrong with it, Forbidden what is outside the token's scope."""
    event = poster.validate(kind, payload)
    if event.kind == "hold" and event.event == "released":
        check_hold_placed(event.key, queries.hold_events(store, event.key))
    if not token.scope.plant_wide:
        states = queries.item_states(store, list(event.items)) if event.items else []
        places = [(str(s["item"]), str(s["site"]), str(s["line"])) for s in states]
        check_event(token.scope, event.site, event.line, places)
    poster.publish(event)
    return event
