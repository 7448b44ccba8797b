"""``linetrace job``, ``qc``, ``hold``, ``aggregate``, ``transform`` and ``dispatch``: events
people post.

Each command builds the event, validates it as the worker and the HTTP API do (wire checks,
and the site, line, station and product against the plant) and publishes it; nothing is sent
when a check fails (exit 2 with the reason). Times are RFC 3339 with an offset, e.g.
``2026-12-24T16:00:00Z``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ingest.errors import InvalidInput
from ingest.schema import (
    DESTINATION_TYPES,
    HOLD_TYPES,
    QC_RESULTS,
    SHIPMENT_TYPES,
    Aggregation,
    HoldEvent,
    JobEvent,
    QcResult,
    Shipment,
    Transformation,
)
from ingest.settings import Settings
from ingest.timefmt import now_us, parse_us
from ingest.wire import (
    encode_aggregation,
    encode_hold,
    encode_job_event,
    encode_qc,
    encode_shipment,
    encode_transformation,
)

Handler = Callable[[argparse.Namespace, Settings], None]


def add_event_parsers(sub: Any) -> None:
    """The event commands, on the subcommands of ``linetrace``."""
    _add_aggregate(sub)
    _add_transform(sub)
    _add_job(sub)
    _add_qc(sub)
    _add_hold(sub)
    _add_dispatch(sub)


def _where(p: argparse.ArgumentParser, station: bool = False) -> None:
    p.add_argument("--site", required=True, help="the site, as in the plant file")
    p.add_argument("--line", required=True, help="the line of the site, as in the plant file")
    if station:
        p.add_argument("--station", required=True, help="the station where it happened")


def _at(args: argparse.Namespace, station: bool = False) -> dict[str, Any]:
    """Where (the options of ``_where``) and when (now) an event happened, as its fields."""
    at: dict[str, Any] = {"site": args.site, "line": args.line, "time_us": now_us()}
    if station:
        at["station"] = args.station
    return at


def _add_aggregate(sub: Any) -> None:
    p = sub.add_parser(
        "aggregate", help="post an aggregation event: children packed or assembled into a parent, or unpacked"
    )
    _where(p, station=True)
    p.add_argument("--parent", required=True, help="the parent: pallet, case, kit or assembly key")
    p.add_argument("--child", action="append", required=True, help="a child item key (repeat)")
    p.add_argument("--unpack", action="store_true", help="the children were taken out of the parent")
    p.set_defaults(func=_aggregate)


def _add_transform(sub: Any) -> None:
    p = sub.add_parser("transform", help="post a transformation: input lots or items consumed into outputs")
    _where(p, station=True)
    p.add_argument("--id", required=True, help="the transformation's id (the batch or work step)")
    p.add_argument("--input", action="append", required=True, help="an input lot or item key (repeat)")
    p.add_argument("--output", action="append", required=True, help="an output item key (repeat)")
    p.set_defaults(func=_transform)


def _add_job(sub: Any) -> None:
    job = sub.add_parser("job", help="post to a job card: create, bind items, blockers, delays, ready")
    events = job.add_subparsers(required=True, metavar="EVENT", dest="event")

    create = events.add_parser("create", help="create a job card with its plan")
    _job_args(create)
    create.add_argument("--product", required=True, help="the product, as in the plant file")
    create.add_argument("--quantity", type=int, default=0, help="items to make")
    create.add_argument("--planned-start", default="", help="planned start, RFC 3339")
    create.add_argument("--planned-end", default="", help="planned end, RFC 3339")
    create.add_argument("--due", default="", help="due date, RFC 3339 (late_jobs compares against it)")
    create.add_argument("--target-rate", type=float, default=0.0, help="planned items per hour")
    create.set_defaults(func=_job_create)

    bind = events.add_parser("bind", help="bind items to the job")
    _job_args(bind)
    bind.add_argument("--product", required=True, help="the items' product, as in the plant file")
    bind.add_argument("--item", action="append", required=True, help="an item key to bind (repeat)")
    bind.set_defaults(func=_job_bind)

    blocker = events.add_parser("blocker", help="open or resolve a blocker of the job")
    actions = blocker.add_subparsers(required=True, metavar="ACTION", dest="action")
    opened = actions.add_parser("open", help="the job is blocked")
    _job_args(opened)
    opened.add_argument("--blocker", required=True, help="the blocker's id")
    opened.add_argument("--type", required=True, choices=list(HOLD_TYPES), help="what blocks the job")
    opened.add_argument("--owner", required=True, help="who resolves it")
    opened.add_argument("--note", default="", help="what is wrong")
    opened.set_defaults(func=_job_blocker)
    resolved = actions.add_parser("resolve", help="the blocker is resolved")
    _job_args(resolved)
    resolved.add_argument("--blocker", required=True, help="the blocker's id")
    resolved.add_argument("--note", default="", help="the resolution")
    resolved.set_defaults(func=_job_blocker)

    delay = events.add_parser("delay", help="record a delay of the job")
    _job_args(delay)
    delay.add_argument("--note", required=True, help="why the job is delayed")
    delay.set_defaults(func=_job_note)

    ready = events.add_parser("ready", help="the job is ready for dispatch")
    _job_args(ready)
    ready.add_argument("--note", default="", help="a note for dispatch")
    ready.set_defaults(func=_job_note)


def _job_args(p: argparse.ArgumentParser) -> None:
    _where(p)
    p.add_argument("--job", required=True, help="the job (work order) id")


def _add_qc(sub: Any) -> None:
    qc = sub.add_parser("qc", help="record a QC result on an item (a fail rejects it)")
    actions = qc.add_subparsers(required=True, metavar="ACTION", dest="action")
    record = actions.add_parser("record", help="record a QC result")
    record.add_argument("item", help="the item key")
    _where(record)
    record.add_argument("--station", default="", help="the QC station")
    record.add_argument("--job", default="", help="the item's job")
    record.add_argument("--result", required=True, choices=list(QC_RESULTS), help="the verdict")
    record.add_argument("--note", default="", help="the inspector's notes")
    record.set_defaults(func=_qc)


def _add_hold(sub: Any) -> None:
    hold = sub.add_parser(
        "hold", help="place or release a hold on items or lots (reaches what they went into)"
    )
    hold.add_argument("event", choices=["place", "release"], help="place a hold, or release it")
    _where(hold)
    hold.add_argument("--hold-id", required=True, help="the hold's id (the release names the same)")
    hold.add_argument("--owner", required=True, help="who placed it and decides its release")
    hold.add_argument("--type", required=True, choices=list(HOLD_TYPES), help="what the hold is for")
    hold.add_argument("--reason", default="", help="why")
    hold.add_argument("--item", action="append", required=True, help="an item or lot key (repeat)")
    hold.set_defaults(func=_hold)


def _add_dispatch(sub: Any) -> None:
    p = sub.add_parser(
        "dispatch",
        help="post a shipment: items leaving the plant under a despatch advice or order, to a destination",
        description="Items leave the plant in a shipment (EPCIS business transactions and destinations "
        "on the shipping event); recall and the EPCIS export list it with every item it names. "
        "Example: linetrace dispatch --site PLANT-1 --line LINE-A --station SHIP-1 "
        "--shipment desadv:DESADV-4711 --shipment po:PO-0815 "
        "--destination owning_party:urn:epc:id:pgln:4012345.00000 "
        "--destination location:urn:epc:id:sgln:4012345.00001.0 --item urn:epc:id:sscc:0614141.1234567890",
    )
    _where(p)
    p.add_argument("--station", default="", help="the dispatch station it left from")
    p.add_argument(
        "--shipment",
        action="append",
        required=True,
        metavar="[TYPE:]REF",
        help=f"a despatch advice, order or other reference (repeat); TYPE one of {', '.join(SHIPMENT_TYPES)} "
        "(default desadv)",
    )
    p.add_argument(
        "--destination",
        action="append",
        required=True,
        metavar="[TYPE:]URI",
        help="where it goes (repeat): a URI such as the customer's PGLN or ship-to SGLN; "
        f"TYPE one of {', '.join(DESTINATION_TYPES)} (default location)",
    )
    p.add_argument("--item", action="append", required=True, help="an item, case or pallet key (repeat)")
    p.set_defaults(func=_dispatch)


def typed(text: str, types: tuple[str, ...], default: str) -> tuple[str, str]:
    """``TYPE:VALUE`` as (type, value) when TYPE is one of ``types``, else (``default``, text):
    ``po:PO-7`` is an order, ``urn:epc:id:sgln:…`` a value of the default type."""
    kind, colon, value = text.partition(":")
    return (kind, value) if colon and kind in types else (default, text)


def _dispatch(args: argparse.Namespace, settings: Settings) -> None:
    ev = Shipment(
        station=args.station,
        items=tuple(args.item),
        transactions=tuple(typed(t, SHIPMENT_TYPES, "desadv") for t in args.shipment),
        destinations=tuple(typed(d, DESTINATION_TYPES, "location") for d in args.destination),
        **_at(args),
    )
    _post(settings, "shipment", encode_shipment(ev))
    refs = ", ".join(f"{kind}:{ref}" for kind, ref in ev.transactions)
    print(f"posted: shipment {refs} of {len(ev.items)} items")


def _aggregate(args: argparse.Namespace, settings: Settings) -> None:
    action = "delete" if args.unpack else "add"
    agg = Aggregation(
        parent=args.parent, children=tuple(args.child), action=action, **_at(args, station=True)
    )
    _post(settings, "aggregation", encode_aggregation(agg))
    arrow = "->" if args.unpack else "<-"
    print(f"posted: {agg.parent} {arrow} {', '.join(agg.children)}")


def _transform(args: argparse.Namespace, settings: Settings) -> None:
    tf = Transformation(
        transformation_id=args.id,
        inputs=tuple(args.input),
        outputs=tuple(args.output),
        **_at(args, station=True),
    )
    _post(settings, "transformation", encode_transformation(tf))
    print(f"posted: {', '.join(tf.inputs)} => {', '.join(tf.outputs)}")


def _job_event(args: argparse.Namespace, event: str, **fields: Any) -> JobEvent:
    return JobEvent(
        event=event,
        job=args.job,
        product=fields.pop("product", ""),
        quantity=fields.pop("quantity", 0),
        items=fields.pop("items", ()),
        **_at(args),
        **fields,
    )


def _job_create(args: argparse.Namespace, settings: Settings) -> None:
    ev = _job_event(
        args,
        "created",
        product=args.product,
        quantity=args.quantity,
        planned_start_us=_time(args.planned_start, "--planned-start"),
        planned_end_us=_time(args.planned_end, "--planned-end"),
        due_us=_time(args.due, "--due"),
        target_rate_per_h=args.target_rate,
    )
    if ev.planned_start_us and ev.planned_end_us and ev.planned_end_us < ev.planned_start_us:
        raise InvalidInput("bad_job_event", "--planned-end is before --planned-start")
    _post(settings, "job", encode_job_event(ev))
    print(f"posted: job {ev.job} created ({ev.quantity} {ev.product})")


def _job_bind(args: argparse.Namespace, settings: Settings) -> None:
    ev = _job_event(args, "items_bound", product=args.product, items=tuple(args.item))
    _post(settings, "job", encode_job_event(ev))
    print(f"posted: job {ev.job} items_bound ({len(ev.items)} items)")


def _job_blocker(args: argparse.Namespace, settings: Settings) -> None:
    if args.action == "open":
        ev = _job_event(
            args,
            "blocker_opened",
            blocker_id=args.blocker,
            blocker_type=args.type,
            owner=args.owner,
            note=args.note,
        )
    else:
        ev = _job_event(args, "blocker_resolved", blocker_id=args.blocker, note=args.note)
    _post(settings, "job", encode_job_event(ev))
    print(f"posted: job {ev.job} {ev.event} {ev.blocker_id}")


def _job_note(args: argparse.Namespace, settings: Settings) -> None:
    ev = _job_event(args, "delay" if args.event == "delay" else "ready_for_dispatch", note=args.note)
    _post(settings, "job", encode_job_event(ev))
    print(f"posted: job {ev.job} {ev.event}")


def _qc(args: argparse.Namespace, settings: Settings) -> None:
    qc = QcResult(
        item=args.item, job=args.job, result=args.result, notes=args.note, **_at(args, station=True)
    )
    _post(settings, "qc", encode_qc(qc))
    print(f"posted: QC {qc.result} on {qc.item}")


def _hold(args: argparse.Namespace, settings: Settings) -> None:
    ev = HoldEvent(
        event="placed" if args.event == "place" else "released",
        hold_id=args.hold_id,
        items=tuple(args.item),
        hold_type=args.type,
        owner=args.owner,
        reason=args.reason,
        **_at(args),
    )
    if ev.event == "released":
        from ingest.cli.queryclient import query
        from ingest.names import check_hold_placed

        check_hold_placed(ev.hold_id, query(settings, "hold", {"hold_id": ev.hold_id}))
    _post(settings, "hold", encode_hold(ev))
    print(f"posted: hold {ev.hold_id} {ev.event} on {len(ev.items)} items")


def _time(text: str, option: str) -> int:
    if not text:
        return 0
    try:
        return parse_us(text)
    except InvalidInput as exc:
        raise InvalidInput("bad_timestamp", f"{option}: {exc.detail}") from exc


def _post(settings: Settings, kind: str, payload: bytes) -> None:
    """Validate (the same checks the worker applies) and publish, as the HTTP API does."""
    from ingest.posting import EventPoster

    poster = EventPoster(settings)
    try:
        poster.post(kind, payload)
    finally:
        poster.close()
