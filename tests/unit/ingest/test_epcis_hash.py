"""The EPCIS event hash against GS1 Germany's published vectors (RalphTro/epcis-event-hash-generator,
MIT): every event of every JSON-LD example hashes to the expected eventID."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from ingest.epcis.digitallink import canonical
from ingest.epcis.eventhash import Namespaces, document_hashes, event_hash, prehash
from tests.unit.ingest.epcisdata import EPCIS_DATA, epcis_data

EXAMPLES = EPCIS_DATA / "event-hash" / "examples"
# The JSON-LD examples with expected hashes (the XML-only ones need the XML binding, not done).
VECTORS = sorted(p.stem for p in EXAMPLES.glob("*.jsonld") if p.with_suffix(".hashes").exists())
DL = "https://id.gs1.org"
EXPECTED_EVENTS = 43  # events in those examples, when the data set is present


def _expected(name: str) -> list[str]:
    return [h.strip() for h in (EXAMPLES / f"{name}.hashes").read_text().splitlines() if h.strip()]


@pytest.mark.parametrize("name", VECTORS or ["(no data)"])
def test_every_event_hashes_to_the_published_id(name: str) -> None:
    path = epcis_data("event-hash", "examples", f"{name}.jsonld")
    assert document_hashes(orjson.loads(path.read_bytes())) == _expected(name)


def test_all_published_json_vectors_are_matched() -> None:
    epcis_data("event-hash", "examples")
    matched = sum(
        got == want
        for name in VECTORS
        for got, want in zip(
            document_hashes(orjson.loads((EXAMPLES / f"{name}.jsonld").read_bytes())),
            _expected(name),
            strict=True,
        )
    )
    assert (len(VECTORS), matched) == (22, EXPECTED_EVENTS)


def test_representations_of_one_event_hash_alike() -> None:
    path = epcis_data("event-hash", "expected_equal", "ReferenceEventHashAlgorithm.json")
    assert len(set(document_hashes(orjson.loads(path.read_bytes())))) == 1


def test_prehash_of_a_plant_event() -> None:
    event = {
        "type": "ObjectEvent",
        "eventID": "ignored",
        "eventTime": "2024-03-01T10:00:00.123456+01:00",
        "eventTimeZoneOffset": "+01:00",
        "epcList": ["urn:epc:id:sgtin:0614141.000001.2", "urn:epc:id:sgtin:0614141.000001.10"],
        "action": "OBSERVE",
        "bizStep": "assembling",
        "disposition": "in_progress",
        "readPoint": {"id": "urn:epc:id:sgln:0614141.00777.ASSY1"},
    }
    assert prehash(event, Namespaces()) == (
        "eventType=ObjectEventeventTime=2024-03-01T09:00:00.123ZeventTimeZoneOffset=+01:00"
        "epcListepc=https://id.gs1.org/01/00614141000012/21/10epc=https://id.gs1.org/01/00614141000012/21/2"
        "action=OBSERVEbizStep=https://ref.gs1.org/cbv/BizStep-assembling"
        "disposition=https://ref.gs1.org/cbv/Disp-in_progress"
        "readPointid=https://id.gs1.org/414/0614141007776/254/ASSY1"
    )
    assert event_hash(event).startswith("ni:///sha-256;") and event_hash(event).endswith("?ver=CBV2.0")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("urn:epc:id:sscc:0614141.1000000001", f"{DL}/00/106141410000000019", id="sscc"),
        pytest.param("urn:epc:class:lgtin:0614141.000009.C-7", f"{DL}/01/00614141000098/10/C-7", id="lgtin"),
        pytest.param("https://example.com/gtin/09780345418913", f"{DL}/01/09780345418913", id="dl alpha"),
        pytest.param("urn:linetrace:loc:SITE-1", None, id="not gs1"),
    ],
)  # fmt: skip
def test_canonical_digital_link(value: str, expected: str | None) -> None:
    assert canonical(value) == expected


def test_data_path_is_outside_the_repository() -> None:
    assert Path(__file__).resolve().parents[3] not in EPCIS_DATA.resolve().parents
