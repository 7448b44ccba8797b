"""LLRP tag reports to observations."""

from __future__ import annotations

import pytest
from llrpkit import TagReport
from llrpkit.protocol import BitStr, params

from readers.llrp import observation_of
from tests.unit.factories import at, part_epc

NOW = at(100)
DAY_US = 86_400_000_000
EPC = bytes.fromhex(part_epc(1))


def test_a_tag_report_keeps_the_readers_time_count_and_rssi() -> None:
    tag = TagReport(epc=EPC, antenna=2, rssi_dbm=-51.5, first_seen_us=at(99.5), seen_count=4)
    obs, reason = observation_of(tag, "R-CUT", NOW, 300_000_000, DAY_US)
    assert reason == "" and obs is not None
    assert (obs.reader_id, obs.antenna, obs.time_us, obs.epc, obs.rssi, obs.count) == (
        "R-CUT",
        2,
        at(99.5),
        part_epc(1),
        -51.5,
        4,
    )


def test_a_report_without_time_is_stamped_now() -> None:
    obs, _ = observation_of(TagReport(epc=EPC, antenna=1), "R", NOW, 300_000_000, DAY_US)
    assert obs is not None and (obs.time_us, obs.count) == (NOW, 1)


@pytest.mark.parametrize(
    ("tag", "reason"),
    [
        pytest.param(
            TagReport(epc=EPC, antenna=1, first_seen_us=NOW + 301_000_000), "future_timestamp", id="future"
        ),
        pytest.param(
            TagReport(epc=EPC, antenna=1, first_seen_us=NOW - 2 * DAY_US), "stale_timestamp", id="stale"
        ),
        pytest.param(TagReport(epc=b"", antenna=1), "bad_read", id="no epc"),
        pytest.param(TagReport(epc=EPC), "bad_read", id="no antenna"),
    ],
)
def test_an_unusable_tag_report_is_rejected_with_its_reason(tag: TagReport, reason: str) -> None:
    assert observation_of(tag, "R", NOW, 300_000_000, DAY_US) == (None, reason)


@pytest.mark.parametrize(
    ("bits", "data", "reason"),
    [
        pytest.param(96, EPC, "", id="96 bits"),
        pytest.param(16, b"\x30\x34", "", id="one word"),
        pytest.param(9, b"\x30\x80", "bad_read", id="9 bits: not whole bytes"),
        pytest.param(1, b"\x80", "bad_read", id="1 bit"),
    ],
)
def test_an_epc_data_parameter_must_hold_whole_bytes(bits: int, data: bytes, reason: str) -> None:
    trd = params.TagReportData(
        epc_parameter=params.EPCData(epc=BitStr(bit_len=bits, data=data)),
        antenna_id=params.AntennaID(antenna_id=1),
    )
    obs, why = observation_of(TagReport.from_param(trd), "R", NOW, 300_000_000, DAY_US)
    assert why == reason and (obs is None) == bool(reason)
    assert obs is None or obs.epc == data.hex().upper()
