"""A capture job through the real broker, sink and chDB outlives the process that ran it: after
the sink (which serves the API) restarts, GET /epcis/capture/{id} answers the finished job as
before; an unknown id is still 404."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ingest.epc import item_key
from ingest.timefmt import now_us
from tests.integration.conftest import Pipeline
from tests.integration.scenario import PLANT, part
from tests.integration.test_epcis_capture import _call, _capture, _document, _observe

pytestmark = pytest.mark.integration


def test_a_finished_capture_job_is_answered_after_a_restart(
    pipeline_factory: Callable[[dict[str, Any]], Pipeline],
) -> None:
    p = pipeline_factory(PLANT)
    item = item_key(part(61))
    job = _capture(
        p, _document(_observe(item, "A1", now_us() // 1000 * 1000), _observe(item, "X9", now_us()))
    )
    assert (job["success"], job["captured"], [e["reason"] for e in job["errors"]]) == (
        False,
        1,
        ["unknown_read_point"],
    )
    p.wait_until(lambda: len(p.query("history", item=item)) == 1, what="the captured pass")

    p.stop_sink()
    p.processes["sink"] = p.launch("sink", ["sink"])
    p.wait_for_api()
    location = f"/epcis/capture/{job['captureID']}"
    p.wait_until(lambda: _call(p, location)[0] == 200, what="the job answered after the restart")
    assert _call(p, location)[:2] == (200, job)
    status, answer, _ = _call(p, "/epcis/capture/cap-0000")
    assert (status, answer["error"]) == (404, "unknown_capture")
