"""A transformation's id through the real broker, worker, sink and chDB: two transformations
of one lot at one station and time are stored with their ids on their links, and the export of
what the lot went into holds two TransformationEvents, each with its transformationID, in a
schema-valid document."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from ingest.epc import item_key
from ingest.epcis.validation import document_problems
from ingest.schema import Transformation
from ingest.timefmt import now_us
from ingest.wire import encode_transformation
from storage.client import connect
from tests.integration.conftest import Pipeline
from tests.integration.scenario import LINE, PLANT, SITE, part

pytestmark = pytest.mark.integration

S = 1_000_000
LOT = "urn:epc:class:lgtin:0614141.000009.COIL-7"


def _export(p: Pipeline, item: str) -> dict[str, Any]:
    """The export of what ``item`` went into; an empty document while it is unknown (404) or
    the sink has not read the plant yet (503)."""
    request = urllib.request.Request(
        f"{p.api}/epcis/export?item={item}&direction=up",
        headers={"Authorization": f"Bearer {p.settings.api_token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            document: dict[str, Any] = orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        assert exc.code in (404, 503), (exc, exc.read())
        return {"epcisBody": {"eventList": []}}
    return document


def test_transformations_are_exported_with_their_ids(
    pipeline_factory: Callable[[dict[str, Any]], Pipeline],
) -> None:
    p = pipeline_factory(PLANT)
    at = now_us() - 60 * S
    first, second = item_key(part(51)), item_key(part(52))
    for tf_id, output in (("T-1", first), ("urn:uuid:2d6c1f0e-5a4b-4c3d-9e8f-7a6b5c4d3e2f", second)):
        tf = Transformation(
            site=SITE,
            line=LINE,
            station="A1",
            transformation_id=tf_id,
            inputs=(LOT,),
            outputs=(output,),
            time_us=at,
        )
        p.send(p.topics.aggregations, encode_transformation(tf), tf_id.encode())
    p.flush()

    def both_exported() -> bool:
        events = _export(p, LOT)["epcisBody"]["eventList"]
        return len([e for e in events if e["type"] == "TransformationEvent"]) == 2

    p.wait_until(both_exported, what="both transformations")
    document = _export(p, LOT)
    assert document_problems(document) == []
    assert sorted(
        (e["transformationID"], e["outputEPCList"], e["inputQuantityList"])
        for e in document["epcisBody"]["eventList"]
        if e["type"] == "TransformationEvent"
    ) == [
        ("urn:linetrace:transformation:T-1", [first], [{"epcClass": LOT}]),
        ("urn:uuid:2d6c1f0e-5a4b-4c3d-9e8f-7a6b5c4d3e2f", [second], [{"epcClass": LOT}]),
    ]

    p.stop_sink()
    store = connect(p.settings)
    try:
        rows = store.query(
            "SELECT DISTINCT node, transformation_id FROM links FINAL WHERE other = {lot:String}",
            {"lot": LOT},
        )
    finally:
        store.close()
    assert sorted((r["node"], r["transformation_id"]) for r in rows) == sorted(
        [(first, "T-1"), (second, "urn:uuid:2d6c1f0e-5a4b-4c3d-9e8f-7a6b5c4d3e2f")]
    )
