"""What a screen's action form becomes: the same wire event ``linetrace hold``, ``qc`` and
``job`` post, and the API takes at ``POST /v1/events/<kind>``. Pure: a form's fields in, the
event's kind and payload out (or InvalidInput naming the field that is wrong); the plant
and scope checks come after, in ``storage.eventcheck``."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ingest.errors import InvalidInput
from ingest.schema import HoldEvent, JobEvent, QcResult
from ingest.timefmt import parse_us
from ingest.wire import encode_hold, encode_job_event, encode_qc

Form = Mapping[str, str]


@dataclass(frozen=True)
class Action:
    """An event to post, and how to say it was taken."""

    kind: str
    payload: bytes
    done: str


def field(form: Form, name: str, required: bool = True) -> str:
    value = form.get(name, "").strip()
    if required and not value:
        raise InvalidInput("missing_field", f"{name} is required")
    return value


def item_keys(text: str) -> tuple[str, ...]:
    """Item or lot keys typed or pasted one per line (or separated by commas or spaces)."""
    keys = tuple(dict.fromkeys(k for k in re.split(r"[\s,]+", text) if k))
    if not keys:
        raise InvalidInput("missing_field", "items: name at least one item or lot")
    return keys


def new_id(prefix: str, now_us: int) -> str:
    """An id for a hold or blocker the form left blank: when, and a few random letters (two
    supervisors placing holds in the same second get two holds)."""
    stamp = datetime.fromtimestamp(now_us / 1e6, UTC).strftime("%Y%m%d-%H%M%S")
    return f"{prefix}-{stamp}-{secrets.token_hex(2)}"


def _where(form: Form, now_us: int) -> dict[str, object]:
    return {"site": field(form, "site"), "line": field(form, "line"), "time_us": now_us}


def hold_placed(form: Form, now_us: int, items: tuple[str, ...] | None = None) -> Action:
    """A hold placed on the form's items (or on ``items``: a recall's whole scope)."""
    keys = items if items is not None else item_keys(form.get("items", ""))
    ev = HoldEvent(
        event="placed",
        hold_id=field(form, "hold_id", required=False) or new_id("H", now_us),
        items=keys,
        hold_type=field(form, "hold_type"),
        owner=field(form, "owner"),
        reason=field(form, "reason", required=False),
        **_where(form, now_us),  # type: ignore[arg-type]
    )
    return Action("hold", encode_hold(ev), f"hold {ev.hold_id} placed on {len(keys)} item(s)")


def hold_released(form: Form, now_us: int, placed: Sequence[Mapping[str, object]]) -> Action:
    """The release of a hold from every item it was placed on and is still on (``placed``:
    the hold's events as the ``hold`` query answers them)."""
    hold_id = field(form, "hold_id")
    on: dict[str, Mapping[str, object]] = {}
    for e in placed:
        if e["event"] == "placed":
            on[str(e["item"])] = e
        else:
            on.pop(str(e["item"]), None)
    if not on:
        raise InvalidInput("not_on_hold", f"hold {hold_id} is on no item now (already released?)")
    first = next(iter(on.values()))
    ev = HoldEvent(
        event="released",
        hold_id=hold_id,
        items=tuple(on),
        hold_type=str(first["hold_type"]),
        owner=field(form, "owner", required=False) or str(first["owner"]),
        reason=field(form, "reason", required=False),
        **_where(form, now_us),  # type: ignore[arg-type]
    )
    return Action("hold", encode_hold(ev), f"hold {hold_id} released from {len(on)} item(s)")


def qc_recorded(form: Form, now_us: int) -> Action:
    qc = QcResult(
        item=field(form, "item"),
        job=field(form, "job", required=False),
        station=field(form, "station"),
        result=field(form, "result"),
        notes=field(form, "note", required=False),
        **_where(form, now_us),  # type: ignore[arg-type]
    )
    return Action("qc", encode_qc(qc), f"QC {qc.result} recorded on {qc.item}")


def _job_event(form: Form, now_us: int, event: str, **fields: object) -> JobEvent:
    return JobEvent(
        event=event,
        job=field(form, "job"),
        product=str(fields.pop("product", "")),
        quantity=int(str(fields.pop("quantity", 0))),
        items=(),
        **_where(form, now_us),  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )


def blocker_opened(form: Form, now_us: int) -> Action:
    ev = _job_event(
        form,
        now_us,
        "blocker_opened",
        blocker_id=field(form, "blocker_id", required=False) or new_id("B", now_us),
        blocker_type=field(form, "blocker_type"),
        owner=field(form, "owner"),
        note=field(form, "note", required=False),
    )
    return Action("job", encode_job_event(ev), f"blocker {ev.blocker_id} opened on job {ev.job}")


def blocker_resolved(form: Form, now_us: int) -> Action:
    ev = _job_event(
        form,
        now_us,
        "blocker_resolved",
        blocker_id=field(form, "blocker_id"),
        note=field(form, "note", False),
    )
    return Action("job", encode_job_event(ev), f"blocker {ev.blocker_id} of job {ev.job} resolved")


def delay_reported(form: Form, now_us: int) -> Action:
    ev = _job_event(form, now_us, "delay", note=field(form, "note"))
    return Action("job", encode_job_event(ev), f"delay of job {ev.job} reported")


def job_created(form: Form, now_us: int) -> Action:
    quantity = field(form, "quantity")
    if not quantity.isdigit():
        raise InvalidInput("bad_field", f"quantity: not a whole number: {quantity!r}")
    due = field(form, "due", required=False)
    ev = _job_event(
        form,
        now_us,
        "created",
        product=field(form, "product"),
        quantity=int(quantity),
        due_us=_utc_us(due, "due") if due else 0,
    )
    return Action("job", encode_job_event(ev), f"job {ev.job} created ({ev.quantity} {ev.product})")


def _utc_us(text: str, name: str) -> int:
    """A browser's date and time (``datetime-local``: no offset), taken as UTC as the form says;
    RFC 3339 with an offset is taken as written."""
    has_offset = text.endswith("Z") or re.search(r"[+-]\d\d:\d\d$", text)
    try:
        return parse_us(text if has_offset else text + (":00Z" if text.count(":") == 1 else "Z"))
    except InvalidInput as exc:
        raise InvalidInput("bad_field", f"{name}: {exc.detail}") from exc


# The screens' actions that need nothing but their form.
FORM_ACTIONS: dict[str, Callable[[Form, int], Action]] = {
    "hold": hold_placed,
    "qc": qc_recorded,
    "blocker": blocker_opened,
    "resolve": blocker_resolved,
    "delay": delay_reported,
    "job": job_created,
}
