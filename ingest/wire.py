"""Wire format of the public topics: orjson objects with ``v`` (version) and ``type``.

Every decoder validates fully and raises InvalidInput with a stable reason, so the
caller can dead-letter the message and move on.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

import orjson

from ingest.epcis.vocab import is_uri
from ingest.errors import InvalidInput
from ingest.schema import (
    AGGREGATION_ACTIONS,
    DESTINATION_TYPES,
    HOLD_TYPES,
    JOB_EVENTS,
    QC_RESULTS,
    SCAN_CONTEXT,
    SCAN_CONTEXT_MAX,
    SHIPMENT_TYPES,
    WIRE_VERSION,
    Aggregation,
    HoldEvent,
    JobEvent,
    QcResult,
    ReadCycleReport,
    ReadFields,
    Shipment,
    TagRead,
    Transformation,
    context_values,
)
from ingest.timefmt import format_us, parse_us

# Item keys: EPC pure identities (items, pallets), EPC classes with a lot (LGTIN, for lots),
# hex for undecodable tags, gs1: for barcode keys.
ITEM_KEY_PREFIXES = ("urn:epc:id:", "urn:epc:class:lgtin:", "hex:", "gs1:")


def encode(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj)


def json_object(payload: bytes, what: str) -> dict[str, Any]:
    """``payload`` parsed as a JSON object; InvalidInput (malformed_json) if it is not one."""
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput("malformed_json", str(exc)) from exc
    if not isinstance(obj, dict):
        raise InvalidInput("malformed_json", f"{what} is not a JSON object")
    return obj


def decode_object(payload: bytes, expected_type: str, max_bytes: int) -> dict[str, Any]:
    """Parse and check the envelope of a public message."""
    if len(payload) > max_bytes:
        raise InvalidInput("oversized", f"{len(payload)} bytes exceeds the limit of {max_bytes}")
    obj = json_object(payload, "the message")
    version = obj.get("v")
    # JSON true == 1 in Python; a version is a number.
    if isinstance(version, bool) or version != WIRE_VERSION:
        raise InvalidInput("unsupported_version", f"version {version!r}, expected {WIRE_VERSION}")
    if obj.get("type") != expected_type:
        raise InvalidInput("wrong_type", f"type {obj.get('type')!r}, expected {expected_type!r}")
    return obj


def encode_report(report: ReadCycleReport) -> bytes:
    start = report.cycle_start_us
    return orjson.dumps(
        {
            "v": WIRE_VERSION,
            "type": "read_cycle",
            "report_id": report.report_id,
            "site": report.site,
            "line": report.line,
            "reader_id": report.reader_id,
            "cycle_seq": report.cycle_seq,
            "cycle_start": format_us(start),
            **context_values(report),
            **({"captured": True} if report.captured else {}),
            **({"withdrawn": True} if report.withdrawn else {}),
            "reads": [
                {
                    **({"key": r.key} if r.key else {"epc": r.epc}),
                    "antenna": r.antenna,
                    "offset_us": r.time_us - start,
                    **({"last_offset_us": r.last_us - start} if r.last_us > r.time_us else {}),
                    "count": r.count,
                    "rssi": r.rssi,
                }
                for r in report.reads
            ],
        }
    )


def decode_report(payload: bytes, max_bytes: int) -> ReadCycleReport:
    report, reads = decode_report_reads(payload, max_bytes)
    return replace(report, reads=tuple([TagRead(*read) for read in reads]))


def decode_report_reads(payload: bytes, max_bytes: int) -> tuple[ReadCycleReport, list[ReadFields]]:
    """A report checked as ``decode_report`` checks it, and its reads as plain tuples of
    TagRead's fields (the report itself holds none): stage 1 takes 200 reads per report,
    and a frozen TagRead costs several times a tuple to build."""
    obj = decode_object(payload, "read_cycle", max_bytes)
    site, line, reader = _str(obj, "site"), _str(obj, "line"), _str(obj, "reader_id")
    seq = obj.get("cycle_seq")
    if type(seq) is not int or seq < 0:
        raise InvalidInput("missing_field", "cycle_seq must be a non-negative integer")
    start = parse_us(_str(obj, "cycle_start"))
    raw_reads = obj.get("reads")
    if not isinstance(raw_reads, list):
        raise InvalidInput("missing_field", "reads must be a list")
    reads: list[ReadFields] = []
    good_epcs = _GOOD_EPCS
    if len(good_epcs) > _GOOD_EPCS_MAX:
        good_epcs.clear()
    for i, r in enumerate(raw_reads):
        try:
            antenna, offset = r["antenna"], r["offset_us"]
            count, rssi = r.get("count", 1), r.get("rssi")
            key = r.get("key") if "epc" not in r else None
            epc = r["epc"] if key is None else ""
        except (TypeError, KeyError, AttributeError) as exc:
            raise InvalidInput("bad_read", f"read {i} lacks {exc}") from exc
        if key is not None:
            if not isinstance(key, str) or not key.startswith(ITEM_KEY_PREFIXES) or len(key) > 256:
                raise InvalidInput("bad_read", f"read {i}: key must be an item key, got {key!r}")
        # The type first: an unhashable epc (a JSON array or object) cannot be looked up.
        elif type(epc) is not str or epc not in good_epcs:
            if type(epc) is not str or not epc or len(epc) > 128 or not _is_hex(epc):
                raise InvalidInput("bad_read", f"read {i}: epc must be hex text, got {epc!r}")
            good_epcs.add(epc)
        # type() is not isinstance(): bool is an int subclass, and this runs once per read.
        if type(antenna) is not int or type(offset) is not int or type(count) is not int:
            raise InvalidInput("bad_read", f"read {i}: antenna, offset_us and count must be integers")
        if count < 1 or (rssi is not None and type(rssi) is not float and type(rssi) is not int):
            raise InvalidInput("bad_read", f"read {i}: count must be >= 1 and rssi a number")
        last = r.get("last_offset_us")
        if last is not None and (type(last) is not int or last < offset):
            raise InvalidInput("bad_read", f"read {i}: last_offset_us must be an integer >= offset_us")
        # A read seen once has last_us 0, however its last offset is written.
        last_us = start + last if last is not None and last > offset else 0
        reads.append((epc, antenna, start + offset, count, rssi, key or "", last_us))
    context: dict[str, Any] = {name: _context_field(obj, name) for name in SCAN_CONTEXT if name in obj}
    report = ReadCycleReport(
        site=site,
        line=line,
        reader_id=reader,
        cycle_seq=seq,
        cycle_start_us=start,
        reads=(),
        captured=obj.get("captured") is True,
        withdrawn=obj.get("withdrawn") is True,
        **context,
    )
    if obj.get("report_id", report.report_id) != report.report_id:
        raise InvalidInput("bad_report_id", f"report_id must be {report.report_id!r}")
    return report, reads


def _context_field(obj: dict[str, Any], name: str) -> str:
    """A field of the report's ``ScanContext``: text of at most SCAN_CONTEXT_MAX characters."""
    value = obj[name]
    if not isinstance(value, str) or len(value) > SCAN_CONTEXT_MAX:
        raise InvalidInput("missing_field", f"{name} must be text of at most {SCAN_CONTEXT_MAX} characters")
    return value


def _encode_event(kind: str, event: Any) -> bytes:
    """An event record as its wire JSON: every field under its name, a time (``…_us``) as
    RFC 3339 under the name without ``_us`` (null when 0: not given), tuples as lists;
    ``withdrawn`` only when set (ingest/schema.py, WITHDRAWN_NOTE)."""
    out: dict[str, Any] = {"v": WIRE_VERSION, "type": kind}
    for f in fields(event):
        value = getattr(event, f.name)
        if f.name == "withdrawn":
            if value:
                out["withdrawn"] = True
        elif f.name.endswith("_us"):
            out[f.name[:-3]] = format_us(value) if value else None
        else:
            out[f.name] = list(value) if isinstance(value, tuple) else value
    return orjson.dumps(out)


def encode_aggregation(agg: Aggregation) -> bytes:
    return _encode_event("aggregation", agg)


def decode_aggregation(payload: bytes, max_bytes: int) -> Aggregation:
    obj = decode_object(payload, "aggregation", max_bytes)
    children = obj.get("children")
    if not isinstance(children, list) or not children:
        raise InvalidInput("missing_field", "children must be a non-empty list of item keys")
    parent = _item(obj.get("parent"))
    kids = tuple(_item(c) for c in children)
    if parent in kids:
        raise InvalidInput("bad_aggregation", f"{parent} cannot be its own child")
    action = obj.get("action", "add")
    if action not in AGGREGATION_ACTIONS:
        raise InvalidInput("bad_aggregation", f"action must be add (pack) or delete (unpack), got {action!r}")
    return Aggregation(
        **_texts(obj, "site", "line", "station"),
        parent=parent,
        children=kids,
        time_us=parse_us(_str(obj, "time")),
        action=action,
        withdrawn=obj.get("withdrawn") is True,
    )


def encode_transformation(tf: Transformation) -> bytes:
    return _encode_event("transformation", tf)


def decode_transformation(payload: bytes, max_bytes: int) -> Transformation:
    obj = decode_object(payload, "transformation", max_bytes)
    lists = []
    for key in ("inputs", "outputs"):
        value = obj.get(key)
        if not isinstance(value, list) or not value:
            raise InvalidInput("missing_field", f"{key} must be a non-empty list of item or lot keys")
        lists.append(tuple(dict.fromkeys(_item(v) for v in value)))
    inputs, outputs = lists
    both = set(inputs) & set(outputs)
    if both:
        raise InvalidInput("bad_transformation", f"{sorted(both)[0]} is both an input and an output")
    return Transformation(
        **_texts(obj, "site", "line", "station", "transformation_id"),
        inputs=inputs,
        outputs=outputs,
        time_us=parse_us(_str(obj, "time")),
        withdrawn=obj.get("withdrawn") is True,
    )


def encode_job_event(ev: JobEvent) -> bytes:
    return _encode_event("job", ev)


def decode_job_event(payload: bytes, max_bytes: int) -> JobEvent:
    obj = decode_object(payload, "job", max_bytes)
    event = _one_of(obj, "event", JOB_EVENTS, "bad_job_event")
    quantity = obj.get("quantity", 0)
    if type(quantity) is not int or quantity < 0:
        raise InvalidInput("bad_job_event", "quantity must be a non-negative integer")
    # null is an absent field; any other value of the wrong type is refused, not read as empty.
    items = _or_default(obj, "items", [])
    if not isinstance(items, list):
        raise InvalidInput("bad_job_event", "items must be a list of item keys")
    rate = _or_default(obj, "target_rate_per_h", 0)
    if type(rate) not in (int, float) or rate < 0:
        raise InvalidInput("bad_job_event", "target_rate_per_h must be a non-negative number")
    blocker_id, blocker_type = _text(obj, "blocker_id", 256), _text(obj, "blocker_type", 64)
    if event.startswith("blocker_") and not blocker_id:
        raise InvalidInput("bad_job_event", f"{event} needs a blocker_id")
    if event == "blocker_opened" and blocker_type not in HOLD_TYPES:
        raise InvalidInput("bad_job_event", f"blocker_type must be one of {', '.join(HOLD_TYPES)}")
    product = _text(obj, "product", 256)
    if event in ("created", "items_bound") and not product:
        raise InvalidInput("missing_field", f"a {event} job event needs its product")
    return JobEvent(
        event=event,
        **_texts(obj, "job", "site", "line"),
        product=product,
        quantity=quantity,
        items=tuple(_item(i) for i in items),
        time_us=parse_us(_str(obj, "time")),
        planned_start_us=_optional_time(obj, "planned_start"),
        planned_end_us=_optional_time(obj, "planned_end"),
        due_us=_optional_time(obj, "due"),
        target_rate_per_h=float(rate),
        blocker_id=blocker_id,
        blocker_type=blocker_type,
        owner=_text(obj, "owner", 256),
        note=_text(obj, "note", 2000),
    )


def encode_qc(qc: QcResult) -> bytes:
    return _encode_event("qc", qc)


def decode_qc(payload: bytes, max_bytes: int) -> QcResult:
    obj = decode_object(payload, "qc", max_bytes)
    result = _one_of(obj, "result", QC_RESULTS, "bad_qc")
    return QcResult(
        item=_item(obj.get("item")),
        job=_text(obj, "job", 256),
        **_texts(obj, "site", "line", "station"),
        result=result,
        notes=_text(obj, "notes", 2000),
        time_us=parse_us(_str(obj, "time")),
        withdrawn=obj.get("withdrawn") is True,
    )


def _texts(obj: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The required text fields ``keys`` by name (each as ``_str`` checks it)."""
    return {key: _str(obj, key) for key in keys}


def _one_of(obj: dict[str, Any], key: str, choices: tuple[str, ...], reason: str) -> str:
    """A field that must be one of ``choices``; InvalidInput(``reason``) names them if not."""
    value = obj.get(key)
    if value not in choices:
        raise InvalidInput(reason, f"{key} must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _or_default(obj: dict[str, Any], key: str, default: Any) -> Any:
    """An optional field: ``default`` when it is absent or null."""
    value = obj.get(key)
    return default if value is None else value


def _text(obj: dict[str, Any], key: str, limit: int) -> str:
    """An optional text field ('' when absent or null)."""
    value = _or_default(obj, key, "")
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInput("bad_field", f"{key} must be text of at most {limit} characters")
    return value


def _optional_time(obj: dict[str, Any], key: str) -> int:
    """An optional timestamp (0 when absent, null or empty)."""
    value = _or_default(obj, key, "")
    if not isinstance(value, str):
        raise InvalidInput("bad_timestamp", f"{key} must be an RFC 3339 timestamp, got {value!r}")
    return parse_us(value) if value else 0


def encode_hold(ev: HoldEvent) -> bytes:
    return _encode_event("hold", ev)


def decode_hold(payload: bytes, max_bytes: int) -> HoldEvent:
    obj = decode_object(payload, "hold", max_bytes)
    event = _one_of(obj, "event", ("placed", "released"), "bad_hold")
    kind = _one_of(obj, "hold_type", HOLD_TYPES, "bad_hold")
    items = obj.get("items")
    if not isinstance(items, list) or not items:
        raise InvalidInput("bad_hold", "items must be a non-empty list of item keys")
    reason = obj.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 2000:
        raise InvalidInput("bad_hold", "reason must be text of at most 2000 characters")
    return HoldEvent(
        event=event,
        **_texts(obj, "hold_id", "site", "line"),
        items=tuple(_item(i) for i in items),
        hold_type=kind,
        owner=_str(obj, "owner"),
        reason=reason,
        time_us=parse_us(_str(obj, "time")),
    )


def encode_shipment(ev: Shipment) -> bytes:
    obj = orjson.loads(_encode_event("shipment", ev))
    for key in ("transactions", "destinations"):
        obj[key] = [{"type": kind, "id": value} for kind, value in getattr(ev, key)]
    return orjson.dumps(obj)


def decode_shipment(payload: bytes, max_bytes: int) -> Shipment:
    obj = decode_object(payload, "shipment", max_bytes)
    items = obj.get("items")
    if not isinstance(items, list) or not items:
        raise InvalidInput("bad_shipment", "items must be a non-empty list of item keys")
    transactions = _typed_pairs(obj, "transactions", SHIPMENT_TYPES, uri=False)
    destinations = _typed_pairs(obj, "destinations", DESTINATION_TYPES, uri=True)
    if not transactions and not destinations:
        raise InvalidInput(
            "bad_shipment", "a shipment needs a transaction (despatch advice, order) or a destination"
        )
    return Shipment(
        **_texts(obj, "site", "line"),
        station=_text(obj, "station", 256),
        items=tuple(dict.fromkeys(_item(i) for i in items)),
        transactions=transactions,
        destinations=destinations,
        time_us=parse_us(_str(obj, "time")),
        withdrawn=obj.get("withdrawn") is True,
    )


def _typed_pairs(
    obj: dict[str, Any], key: str, types: tuple[str, ...], uri: bool
) -> tuple[tuple[str, str], ...]:
    """A list of ``{"type", "id"}`` objects as (type, id) pairs: the type a word of ``types``
    or a URI ('' when not told, except of a destination, which EPCIS requires typed); the id
    text of at most 256 characters, a URI where ``uri`` (destinations)."""
    value = _or_default(obj, key, [])
    if not isinstance(value, list):
        raise InvalidInput("bad_shipment", f"{key} must be a list of {{type, id}} objects")
    pairs = []
    for i, entry in enumerate(value):
        kind = entry.get("type", "") if isinstance(entry, dict) else None
        ident = entry.get("id") if isinstance(entry, dict) else None
        # A destination's type is required (EPCIS requires it); a transaction's may be untold.
        if not isinstance(kind, str) or not (kind in types or is_uri(kind) or (kind == "" and not uri)):
            raise InvalidInput("bad_shipment", f"{key}[{i}]: type must be one of {', '.join(types)} or a URI")
        if not isinstance(ident, str) or not ident or len(ident) > 256 or (uri and not is_uri(ident)):
            what = "a URI" if uri else "non-empty text"
            raise InvalidInput("bad_shipment", f"{key}[{i}]: id must be {what} of at most 256 characters")
        pairs.append((kind, ident))
    return tuple(dict.fromkeys(pairs))


def message_type(payload: bytes) -> str:
    """The ``type`` of a message, or '' if it has none (decoders give the precise error)."""
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return ""
    return str(obj.get("type", "")) if isinstance(obj, dict) else ""


def _str(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value or len(value) > 256:
        raise InvalidInput("missing_field", f"{key} must be non-empty text of at most 256 characters")
    return value


def _item(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith(ITEM_KEY_PREFIXES) or len(value) > 256:
        raise InvalidInput("bad_item_key", f"not an item key: {value!r}")
    return value


# EPCs already checked: a tag is read 10-20 times per pass, so most reads skip the check.
_GOOD_EPCS: set[str] = set()
_GOOD_EPCS_MAX = 1_000_000
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _is_hex(text: str) -> bool:
    # Not int(text, 16): it also takes "0x", signs, "_" and spaces, which would key one tag two ways.
    return _HEX_DIGITS.issuperset(text)
