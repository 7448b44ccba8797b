"""An independent reading of LLRP 1.0.1 framing and TagReportData, to check what linetrace takes
from a report against (written from the specification, sections 15 and 16.2.7.3; it shares
no code with llrpkit).

Only what an item's trace needs is read: the EPC (EPC-96 or EPCData with its bit count), the
antenna, the first-seen UTC time, the tag-seen count and the peak RSSI. Every other
parameter is stepped over by its length (TLV) or its fixed size (TV).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

RO_ACCESS_REPORT = 61
READER_EVENT_NOTIFICATION = 63
TAG_REPORT_DATA = 240
EPC_DATA = 241
# TV parameters: type -> value size in bytes (LLRP 1.0.1 table 16.2.7.3 and 16.2.7.5.2).
TV_SIZES = {
    1: 2,  # AntennaID
    2: 8,  # FirstSeenTimestampUTC
    3: 8,  # FirstSeenTimestampUptime
    4: 8,  # LastSeenTimestampUTC
    5: 8,  # LastSeenTimestampUptime
    6: 1,  # PeakRSSI, signed
    7: 2,  # ChannelIndex
    8: 2,  # TagSeenCount
    9: 4,  # ROSpecID
    10: 2,  # InventoryParameterSpecID
    11: 2,  # C1G2CRC
    12: 2,  # C1G2PC
    13: 12,  # EPC-96
    14: 2,  # SpecIndex
    15: 2,  # ClientRequestOpSpecResult
    16: 4,  # AccessSpecID
    17: 2,  # OpSpecID
    18: 4,  # C1G2SingulationDetails
    19: 2,  # C1G2XPCW1
    20: 2,  # C1G2XPCW2
}


@dataclass(frozen=True)
class Message:
    kind: int
    body: bytes


@dataclass(frozen=True)
class TagData:
    """What one TagReportData says. ``epc_bits`` is the EPC's length in bits."""

    epc: bytes | None = None
    epc_bits: int = 0
    antenna: int | None = None
    first_seen_us: int | None = None
    seen_count: int | None = None
    peak_rssi: int | None = None
    custom: bool = False  # vendor parameters inside (they may carry a finer RSSI)


def messages(stream: bytes) -> Iterator[Message]:
    """The messages of a byte stream of concatenated LLRP messages."""
    at = 0
    while at + 10 <= len(stream):
        word, length = struct.unpack_from(">HI", stream, at)
        if length < 10 or at + length > len(stream):
            raise ValueError(f"message at {at} says {length} bytes, {len(stream) - at} left")
        yield Message(word & 0x3FF, stream[at + 10 : at + length])
        at += length
    if at != len(stream):
        raise ValueError(f"{len(stream) - at} bytes after the last message")


def framed(kind: int, body: bytes) -> bytes:
    """``body`` as one LLRP 1.0.1 message of ``kind`` (message id 0)."""
    return struct.pack(">HII", (1 << 10) | kind, 10 + len(body), 0) + body


def tag_reports(body: bytes) -> list[TagData]:
    """The TagReportData parameters of an RO_ACCESS_REPORT body, in order."""
    reports = []
    for kind, value in _parameters(body):
        if kind == TAG_REPORT_DATA:
            reports.append(_tag_data(value))
    return reports


def _parameters(data: bytes) -> Iterator[tuple[int, bytes]]:
    at = 0
    while at < len(data):
        first = data[at]
        if first & 0x80:  # TV: one byte of type, a value of fixed size
            kind = first & 0x7F
            size = TV_SIZES[kind]
            yield kind, data[at + 1 : at + 1 + size]
            at += 1 + size
            continue
        word, length = struct.unpack_from(">HH", data, at)
        if length < 4 or at + length > len(data):
            raise ValueError(f"parameter at {at} says {length} bytes")
        yield word & 0x3FF, data[at + 4 : at + length]
        at += length


def _tag_data(value: bytes) -> TagData:
    found: dict[str, object] = {}
    for kind, v in _parameters(value):
        if kind == 13:
            found.update(epc=v, epc_bits=96)
        elif kind == EPC_DATA:
            bits = struct.unpack_from(">H", v)[0]
            found.update(epc=v[2 : 2 + (bits + 7) // 8], epc_bits=bits)
        elif kind == 1:
            found["antenna"] = struct.unpack(">H", v)[0]
        elif kind == 2:
            found["first_seen_us"] = struct.unpack(">Q", v)[0]
        elif kind == 8:
            found["seen_count"] = struct.unpack(">H", v)[0]
        elif kind == 6:
            found["peak_rssi"] = struct.unpack(">b", v)[0]
        elif kind == 1023:
            found["custom"] = True
    return TagData(**found)  # type: ignore[arg-type]
