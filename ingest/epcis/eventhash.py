"""The EPCIS event hash (CBV 2.0 §8.9): a deterministic eventID that names an event by what it
says, whichever syntax or notation carried it.

An event becomes a pre-hash string (its fields in the canonical order, each ``name=value``
with identifiers as canonical GS1 Digital Link URIs, CBV words as their web vocabulary URIs,
times in UTC at millisecond precision, lists sorted, user extensions as ``{namespace}name``
after the standard fields), and the eventID is ``ni:///sha-256;<hex>?ver=CBV2.0`` of its UTF-8.

Written for the JSON-LD binding from the algorithm's description and GS1 Germany's reference
implementation (RalphTro/epcis-event-hash-generator, MIT); tests/unit/ingest/test_epcis_hash.py
checks it against that project's published vectors. The package itself is not a dependency:
it pulls a web framework and, through PyLD, an LGPL-3.0 library, to hash dicts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest.epcis import digitallink

CBV = "https://ref.gs1.org/cbv/"
GS1_VOC = "https://gs1.org/voc/"
# Prefixes every EPCIS 2.0 document may use without declaring them (the standard context).
STANDARD_PREFIXES: Mapping[str, str] = {"cbv": CBV, "gs1": GS1_VOC}
# Fields of no meaning to the event's identity (CBV 2.0 §8.9.1).
IGNORED = frozenset(
    {"type", "eventID", "recordTime", "errorDeclaration", "@context", "comment", "rdfs:comment"}
)
# Old CBV 1.x URNs and their CBV 2.0 web vocabulary equivalents.
_CBV_URNS = (
    ("urn:epcglobal:cbv:bizstep:", CBV + "BizStep-"),
    ("urn:epcglobal:cbv:disp:", CBV + "Disp-"),
    ("urn:epcglobal:cbv:btt:", CBV + "BTT-"),
    ("urn:epcglobal:cbv:sdt:", CBV + "SDT-"),
    ("urn:epcglobal:cbv:er:", CBV + "ER-"),
)
_QUANTITY = ("epcClass", "quantity", "uom")
_SENSOR_METADATA = (
    "time", "startTime", "endTime", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod",
    "bizRules",
)  # fmt: skip
_SENSOR_REPORT = (
    "type", "exception", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod", "time",
    "microorganism", "chemicalSubstance", "value", "component", "stringValue", "booleanValue",
    "hexBinaryValue", "uriValue",
    "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue", "uom", "coordinateReferenceSystem",
)  # fmt: skip


class Namespaces:
    """The prefixes of a document's ``@context``, to expand ``prefix:name`` keys and values."""

    def __init__(self, context: Any = None):
        self.prefixes = dict(STANDARD_PREFIXES)
        for entry in context if isinstance(context, list) else [context]:
            if isinstance(entry, dict):
                self.prefixes.update({k: v for k, v in entry.items() if isinstance(v, str)})

    def key(self, name: str) -> str:
        """A user extension's key as ``{namespace}name``."""
        prefix, sep, local = name.partition(":")
        if sep and prefix in self.prefixes:
            return "{" + self.prefixes[prefix] + "}" + local
        return name

    def value(self, text: str) -> str:
        prefix, sep, local = text.partition(":")
        if sep and prefix in self.prefixes and not local.startswith("//"):
            return self.prefixes[prefix] + local
        return text


def event_hash(
    event: Mapping[str, Any], namespaces: Namespaces | None = None, ignored: frozenset[str] = frozenset()
) -> str:
    """The event's hash-based eventID, ``ni:///sha-256;<hex>?ver=CBV2.0``."""
    digest = hashlib.sha256(prehash(event, namespaces, ignored).encode()).hexdigest()
    return f"ni:///sha-256;{digest}?ver=CBV2.0"


def document_hashes(document: Mapping[str, Any]) -> list[str]:
    """The eventID of every event of an EPCISDocument or EPCISQueryDocument, in order."""
    ns = Namespaces(document.get("@context"))
    body = document.get("epcisBody", {})
    results = body.get("queryResults", {})
    if results:
        events = results.get("resultsBody", {}).get("eventList", [])
    else:
        events = body.get("eventList", [body["event"]] if "event" in body else [])
    # A repository may name fields of its own that are not part of the event (``ignoreFields``
    # in any namespace, at the document's top or beside its query results).
    ignored = frozenset(
        str(name)
        for holder in (document, results)
        for key, names in holder.items()
        if key.rpartition(":")[2] == "ignoreFields" and isinstance(names, list)
        for name in names
    )
    return [event_hash(e, ns, ignored) for e in events]


def prehash(
    event: Mapping[str, Any], namespaces: Namespaces | None = None, ignored: frozenset[str] = frozenset()
) -> str:
    """The canonical pre-hash string of one event; ``ignored`` names extension fields to leave out."""
    ns = namespaces or Namespaces()
    parts = ["eventType=" + str(event["type"])]
    for name, render in _ORDER:
        if name in event:
            parts.append(render(name, event[name], ns))
    extensions = {k: v for k, v in event.items() if k not in _STANDARD and k not in ignored}
    parts.append(_extensions(extensions, ns))
    return "".join(parts)


def _value(name: str, value: Any, ns: Namespaces, vocabulary: str = "") -> str:
    """``name=value`` in canonical form; ``vocabulary`` is the URI prefix of a bare CBV word."""
    text = _number(value) if isinstance(value, int | float) and not isinstance(value, bool) else str(value)
    text = text.strip()
    if not text:
        return ""
    lowered = name.lower()
    if "time" in lowered and "offset" not in lowered:
        return f"{name}={_utc_ms(text)}"
    return f"{name}={canonical_value(text, ns, vocabulary)}"


def canonical_value(text: str, ns: Namespaces, vocabulary: str = "") -> str:
    if vocabulary and ":" not in text:
        return vocabulary + text
    text = ns.value(text)
    for urn, uri in _CBV_URNS:
        text = text.replace(urn, uri)
    text = _number(text)
    return digitallink.canonical(text) or text


def _number(value: Any) -> str:
    """Numbers without a leading '+', trailing zeros or a trailing '.0'; other text unchanged."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number != number or number in (float("inf"), float("-inf")):
        return str(value)
    return str(int(number)) if number.is_integer() else str(number)


def _utc_ms(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return text
    rounded = round(moment.microsecond, -3)
    moment = moment.replace(microsecond=0) + timedelta(microseconds=rounded)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _scalar(vocabulary: str = "") -> Callable[[str, Any, Namespaces], str]:
    return lambda name, value, ns: _value(name, value, ns, vocabulary)


def _epcs(name: str, value: Any, ns: Namespaces) -> str:
    epcs = sorted(_value("epc", e, ns) for e in _as_list(value))
    return name + "".join(epcs) if any(epcs) else ""


def _quantities(name: str, value: Any, ns: Namespaces) -> str:
    elements = sorted(
        "quantityElement" + "".join(_value(k, q[k], ns) for k in _QUANTITY if k in q)
        for q in _as_list(value)
        if isinstance(q, dict)
    )
    return name + "".join(elements) if elements else ""


def _persistent(name: str, value: Any, ns: Namespaces) -> str:
    out = "".join(
        "".join(sorted(_value(part, d, ns, CBV + "Disp-") for d in _as_list(value.get(part, []))))
        for part in ("set", "unset")
    )
    return name + out if out else ""


def _location(name: str, value: Any, ns: Namespaces) -> str:
    if not isinstance(value, dict):
        return ""
    own = _value("id", value["id"], ns) if "id" in value else ""
    rest = _extensions({k: v for k, v in value.items() if k != "id"}, ns)
    return name + own + rest if own or rest else ""


def _typed_list(entry: str, vocabulary: str) -> Callable[[str, Any, Namespaces], str]:
    def render(name: str, value: Any, ns: Namespaces) -> str:
        items = [
            (_value("type", v["type"], ns, vocabulary) if "type" in v else "")
            + _value(entry, v.get(entry, ""), ns)
            for v in _as_list(value)
            if isinstance(v, dict)
        ]
        return name + "".join(sorted(items)) if any(items) else ""

    return render


def _sensors(name: str, value: Any, ns: Namespaces) -> str:
    elements = []
    for element in _as_list(value):
        if not isinstance(element, dict):
            continue
        text = "sensorElement"
        metadata = element.get("sensorMetadata")
        if isinstance(metadata, dict):
            text += "sensorMetadata" + _ordered(metadata, _SENSOR_METADATA, ns)
        reports = [r for r in _as_list(element.get("sensorReport", [])) if isinstance(r, dict)]
        text += "".join(sorted("sensorReport" + _ordered(r, _SENSOR_REPORT, ns) for r in reports))
        elements.append(text)
    return name + "".join(sorted(elements)) if elements else ""


def _ordered(obj: Mapping[str, Any], order: tuple[str, ...], ns: Namespaces) -> str:
    vocab = {"type": GS1_VOC, "exception": GS1_VOC, "component": GS1_VOC}
    known = "".join(_value(k, obj[k], ns, vocab.get(k, "")) for k in order if k in obj)
    return known + _extensions({k: v for k, v in obj.items() if k not in order}, ns)


def _ilmd(name: str, value: Any, ns: Namespaces) -> str:
    text = _extensions(value, ns) if isinstance(value, dict) else ""
    return name + text if text else ""


def _extensions(fields: Mapping[str, Any], ns: Namespaces) -> str:
    """User extensions as ``{namespace}name=value``, nested ones after their parent's name,
    repeated ones once per value, siblings sorted."""
    out: list[str] = []
    for key, value in fields.items():
        if key in IGNORED:
            continue
        name = ns.key(key)
        for item in _as_list(value):
            if isinstance(item, dict):
                out.append(name + _extensions(item, ns))
            else:
                out.append(_value(name, item, ns) or name)
    return "".join(sorted(out))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


_ORDER: tuple[tuple[str, Callable[[str, Any, Namespaces], str]], ...] = (
    ("eventTime", _scalar()),
    ("eventTimeZoneOffset", _scalar()),
    ("certificationInfo", _scalar()),
    ("parentID", _scalar()),
    ("epcList", _epcs),
    ("inputEPCList", _epcs),
    ("childEPCs", _epcs),
    ("quantityList", _quantities),
    ("childQuantityList", _quantities),
    ("inputQuantityList", _quantities),
    ("outputEPCList", _epcs),
    ("outputQuantityList", _quantities),
    ("action", _scalar()),
    ("transformationID", _scalar()),
    ("bizStep", _scalar(CBV + "BizStep-")),
    ("disposition", _scalar(CBV + "Disp-")),
    ("persistentDisposition", _persistent),
    ("readPoint", _location),
    ("bizLocation", _location),
    # The reference implementation, whose hashes are the published ones, writes these three
    # in this order (not the order of CBV 2.0 §8.9's table) and sorts each one's entries.
    ("bizTransactionList", _typed_list("bizTransaction", CBV + "BTT-")),
    ("destinationList", _typed_list("destination", CBV + "SDT-")),
    ("sourceList", _typed_list("source", CBV + "SDT-")),
    ("sensorElementList", _sensors),
    ("ilmd", _ilmd),
)
_STANDARD = frozenset(name for name, _ in _ORDER)
