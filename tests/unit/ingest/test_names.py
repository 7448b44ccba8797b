"""Events that name a site, line, station or product the plant does not have are refused
with the reason, before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.errors import InvalidInput
from ingest.plant import Plant
from ingest.posting import EventPoster
from ingest.schema import Aggregation, HoldEvent, JobEvent, QcResult, Transformation
from ingest.settings import Settings
from ingest.wire import encode_aggregation, encode_hold, encode_job_event, encode_qc, encode_transformation
from tests.unit.factories import LINE, SITE, T0


class Recorder:
    """Stands in for the producer: records what would be sent (no broker in a unit test)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.failures: list[Any] = []

    def produce(self, topic: str, value: bytes, key: bytes) -> None:
        self.sent.append((topic, value))

    def flush(self, timeout: float = 0) -> int:
        return 0


def job(site: str = SITE, line: str = LINE, product: str = "PART") -> tuple[str, bytes]:
    ev = JobEvent(
        event="created", job="J-9", site=site, line=line, product=product, quantity=5, items=(), time_us=T0
    )
    return "job", encode_job_event(ev)


def hold(site: str = SITE, line: str = LINE) -> tuple[str, bytes]:
    ev = HoldEvent(
        event="placed",
        hold_id="H-1",
        site=site,
        line=line,
        items=("urn:epc:class:lgtin:0614141.000001.LOT-7",),
        hold_type="material",
        owner="qa",
        reason="supplier recall",
        time_us=T0,
    )
    return "hold", encode_hold(ev)


def qc(station: str = "QC-1") -> tuple[str, bytes]:
    ev = QcResult(
        item="urn:epc:id:sgtin:0614141.000001.1",
        job="J-1",
        site=SITE,
        line=LINE,
        station=station,
        result="pass",
        notes="",
        time_us=T0,
    )
    return "qc", encode_qc(ev)


def pack(station: str = "PACK-1") -> tuple[str, bytes]:
    agg = Aggregation(
        site=SITE,
        line=LINE,
        station=station,
        parent="urn:epc:id:sscc:0614141.1234567890",
        children=("urn:epc:id:sgtin:0614141.000001.1",),
        time_us=T0,
    )
    return "aggregation", encode_aggregation(agg)


def transform(site: str = SITE) -> tuple[str, bytes]:
    tf = Transformation(
        site=site,
        line=LINE,
        station="CUT-1",
        transformation_id="T-1",
        inputs=("urn:epc:class:lgtin:0614141.000001.LOT-7",),
        outputs=("urn:epc:id:sgtin:0614141.000001.1",),
        time_us=T0,
    )
    return "transformation", encode_transformation(tf)


@pytest.mark.parametrize(
    ("event", "reason", "detail"),
    [
        pytest.param(
            job(site="PLANT-9"),
            "unknown_site",
            "site 'PLANT-9' is not in the plant; known: S1",
            id="job on an unknown site",
        ),
        pytest.param(
            job(line="LINE-Z"),
            "unknown_line",
            "line 'LINE-Z' is not a line of site S1; known: L1",
            id="job on an unknown line",
        ),
        pytest.param(
            job(product="NOPE"),
            "unknown_product",
            "product 'NOPE' is not made on S1/L1; known: KIT, LOOSE, PART",
            id="job for an unknown product",
        ),
        pytest.param(
            hold(line="L9"),
            "unknown_line",
            "line 'L9' is not a line of site S1; known: L1",
            id="hold on an unknown line",
        ),
        pytest.param(
            qc(station="QC-9"),
            "unknown_station",
            "station 'QC-9' is not a station of S1/L1; known: ASSY-1, CUT-1, MACH-1, MACH-2, PACK-1, QC-1",
            id="QC result at an unknown station",
        ),
        pytest.param(
            pack(station="DOCK"),
            "unknown_station",
            "station 'DOCK' is not a station of S1/L1; known: ASSY-1, CUT-1, MACH-1, MACH-2, PACK-1, QC-1",
            id="pack at an unknown station",
        ),
        pytest.param(
            transform(site="S2"),
            "unknown_site",
            "site 'S2' is not in the plant; known: S1",
            id="transformation on an unknown site",
        ),
    ],
)
def test_an_event_naming_what_the_plant_lacks_is_refused_and_nothing_is_sent(
    plant: Plant, event: tuple[str, bytes], reason: str, detail: str
) -> None:
    producer = Recorder()
    poster = EventPoster(Settings(), producer=producer, plant=lambda: plant)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as refused:
        poster.post(*event)
    assert (refused.value.reason, refused.value.detail) == (reason, detail)
    assert producer.sent == []


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(job(), id="job"),
        pytest.param(hold(), id="hold on a lot not seen yet"),
        pytest.param(qc(), id="QC result"),
        pytest.param(pack(), id="pack"),
        pytest.param(transform(), id="transformation"),
    ],
)
def test_an_event_naming_what_the_plant_has_is_sent(plant: Plant, event: tuple[str, bytes]) -> None:
    producer = Recorder()
    poster = EventPoster(Settings(), producer=producer, plant=lambda: plant)  # type: ignore[arg-type]
    poster.post(*event)
    assert [value for _, value in producer.sent] == [event[1]]
