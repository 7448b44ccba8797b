"""When the sink inserts: hot tables on their short wait, everything with the commit."""

from __future__ import annotations

import pytest

from ingest.settings import Settings
from storage.sink import ALL, HOT, flush_due

SETTINGS = Settings(sink_flush_s=0.1, sink_commit_s=1.0, sink_batch_rows=1_000)


@pytest.mark.parametrize(
    ("now", "hot_since", "any_since", "quiet_since", "hot", "rows", "due"),
    [
        pytest.param(10.0, 0.0, 0.0, 0.0, 0, 0, "", id="nothing buffered"),
        pytest.param(10.05, 10.0, 10.0, 0.0, 5, 9, "", id="hot rows younger than the flush wait"),
        pytest.param(10.11, 10.0, 10.0, 0.0, 5, 9, HOT, id="hot rows due"),
        pytest.param(10.01, 10.0, 10.0, 0.0, 1_000, 1_000, ALL, id="a full batch"),
        pytest.param(10.5, 0.0, 9.5, 0.0, 0, 9, ALL, id="other rows at the commit wait"),
        pytest.param(10.5, 0.0, 10.0, 0.0, 0, 9, "", id="other rows wait for the commit"),
        pytest.param(10.25, 0.0, 10.0, 10.1, 0, 9, ALL, id="input paused"),
        pytest.param(10.15, 10.0, 10.0, 10.1, 3, 9, HOT, id="paused briefly, hot rows due"),
    ],
)
def test_flush_due(
    now: float, hot_since: float, any_since: float, quiet_since: float, hot: int, rows: int, due: str
) -> None:
    assert flush_due(SETTINGS, now, hot_since, any_since, quiet_since, hot, rows) == due
