"""LLRP messages of the corpus (llrp.json) as the adapter takes them: llrpkit decodes each
message, every TagReportData becomes a read or a rejection (``readers.llrp.observation_of``),
and every READER_EVENT_NOTIFICATION is reader health or nothing (``readers.llrp.llrp_status``).

Each read is checked against an independent decoding of its TagReportData
(``tests.unit.conformance.llrpwire``) and, where the source gives its own decoded values,
against those too (EdgeX's JSON, the LLRP Toolkit's XML). One verdict per TagReportData and
per other message.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from llrpkit.inventory import TagReport
from llrpkit.protocol import messages as llrp_messages
from llrpkit.protocol.codec import decode_message

from readers.llrp import llrp_status, observation_of
from tests.unit.conformance import llrpwire
from tests.unit.conformance.corpus import Outcome, base64_hex, iso_us, judged, manifest

NOW = 1_700_000_000_000_000
# The captures are years old: their times are checked as they are, not against a clock.
FOREVER = 2**62
MAX_EPC_BYTES = 62
REPORTS, MESSAGES = "llrp.json tag reports", "llrp.json other messages"


def outcomes(root: Path) -> Iterator[Outcome]:
    for entry in manifest(root, "llrp.json"):
        stream = _stream(root, entry)
        expected = _source_values(root, entry.get("expect", {}))
        taken = 0
        for n, message in enumerate(llrpwire.messages(stream)):
            case = f"{entry['id']} message {n}"
            if message.kind == llrpwire.RO_ACCESS_REPORT:
                for i, wire in enumerate(llrpwire.tag_reports(message.body)):
                    source = expected[taken] if taken < len(expected) else None
                    taken += 1
                    yield judged(
                        REPORTS,
                        f"{case} tag {i}",
                        partial(_read, message, i, wire, source),
                    )
            else:
                yield judged(MESSAGES, case, partial(_other, message))
        if expected and taken != len(expected):
            yield Outcome(
                REPORTS, entry["id"], "wrong", f"{taken} tag reports, the source has {len(expected)}"
            )
        if "messages" in entry.get("expect", {}) and n + 1 != entry["expect"]["messages"]:
            yield Outcome(
                MESSAGES, entry["id"], "wrong", f"{n + 1} messages, expected {entry['expect']['messages']}"
            )


def _stream(root: Path, entry: dict[str, Any]) -> bytes:
    raw = (root / entry["file"]).read_bytes()
    kind = entry["format"]
    if kind == "hexstream":
        return bytes.fromhex(raw.decode().strip())
    if kind == "trd-hex-lines":  # bare TagReportData parameters: each wrapped in a report here
        return b"".join(
            llrpwire.framed(llrpwire.RO_ACCESS_REPORT, bytes.fromhex(line)) for line in raw.decode().split()
        )
    if kind == "body":
        return llrpwire.framed(llrpwire.RO_ACCESS_REPORT, raw)
    return raw  # binstream


def _read(
    message: llrpwire.Message, i: int, wire: llrpwire.TagData, source: dict[str, Any] | None
) -> tuple[str, str]:
    decoded = decode_message(llrpwire.framed(message.kind, message.body))
    assert isinstance(decoded, llrp_messages.RO_ACCESS_REPORT)
    tag = TagReport.from_param(decoded.tag_report_datas[i])
    obs, reason = observation_of(tag, "R", NOW, FOREVER, FOREVER)
    usable = (
        wire.epc and wire.epc_bits % 8 == 0 and len(wire.epc) <= MAX_EPC_BYTES and wire.antenna is not None
    )
    if not usable:
        verdict = "rejected" if (obs, reason) == (None, "bad_read") else "wrong"
        return verdict, f"{reason or 'taken'}: EPC of {wire.epc_bits} bits, antenna {wire.antenna}"
    if obs is None or wire.epc is None:
        return "wrong", f"rejected as {reason}"
    got: dict[str, object] = {
        "epc": obs.epc,
        "antenna": obs.antenna,
        "time_us": obs.time_us,
        "count": obs.count,
    }
    want: dict[str, object] = {
        "epc": wire.epc.hex().upper(),
        "antenna": wire.antenna,
        "time_us": wire.first_seen_us or NOW,
        "count": wire.seen_count or 1,
    }
    if not wire.custom:  # a vendor parameter may carry a finer RSSI than PeakRSSI
        got["rssi"], want["rssi"] = obs.rssi, None if wire.peak_rssi is None else float(wire.peak_rssi)
    mismatched = {k: (want[k], got[k]) for k in want if got[k] != want[k]}
    if source is not None:
        mismatched |= {
            f"source {k}": (v, got[k]) for k, v in source.items() if v is not None and got.get(k) != v
        }
    return ("wrong", str(mismatched)) if mismatched else ("accepted", obs.epc)


def _other(message: llrpwire.Message) -> tuple[str, str]:
    decoded = decode_message(llrpwire.framed(message.kind, message.body))
    if isinstance(decoded, llrp_messages.READER_EVENT_NOTIFICATION):
        statuses = llrp_status(decoded, "R", NOW)
        if not statuses:
            return "accepted", "a notification with nothing for health (connection, hopping, AISpec events)"
        return "health", ", ".join(f"{s.kind} {s.antennas or s.detail}" for s in statuses)
    return "accepted", type(decoded).__name__  # commands, responses and errors: no reads, nothing lost


# --- the sources' own decoded values ----------------------------------------------------------


def _source_values(root: Path, expect: dict[str, Any]) -> list[dict[str, Any]]:
    """Per TagReportData, in order, the values the source itself decoded (empty: none given)."""
    if "edgex_json" in expect:
        doc = orjson.loads((root / expect["edgex_json"]).read_bytes())
        return [_edgex(trd) for trd in doc.get("TagReportData") or []]
    if "ltk_xml" in expect:
        return [
            _ltk(trd)
            for trd in ET.parse(root / expect["ltk_xml"]).iter()
            if _local(trd.tag) == "TagReportData"
        ]
    return []


def _edgex(trd: dict[str, Any]) -> dict[str, Any]:
    epc = (trd.get("EPC96") or {}).get("EPC") or (trd.get("EPCData") or {}).get("EPC")
    return {
        "epc": base64_hex(epc) if epc else None,
        "antenna": trd.get("AntennaID"),
        "time_us": trd.get("FirstSeenUTC"),
        "count": trd.get("TagSeenCount"),
    }


def _ltk(trd: ET.Element) -> dict[str, Any]:
    def value(*path: str) -> str | None:
        for child in trd.iter():
            if _local(child.tag) == path[-1] and child.text and child.text.strip():
                parents = [_local(p.tag) for p in trd.iter() if child in list(p)]
                if not path[:-1] or (parents and parents[0] == path[0]):
                    return child.text.strip()
        return None

    epc = value("EPC_96", "EPC") or value("EPCData", "EPC")
    first = value("FirstSeenTimestampUTC", "Microseconds")
    antenna, count = value("AntennaID", "AntennaID"), value("TagSeenCount", "TagCount")
    return {
        "epc": epc.upper() if epc else None,
        "antenna": int(antenna) if antenna else None,
        "time_us": iso_us(first) if first else None,
        "count": int(count) if count else None,
    }


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
