"""When the sink inserts: hot tables once the input catches up (within their share of the time)
or on their short wait, everything with the commit."""

from __future__ import annotations

import pytest

from ingest.settings import Settings
from storage.sink import ALL, HOT, flush_due

SETTINGS = Settings(sink_flush_s=0.1, sink_commit_s=1.0, sink_batch_rows=1_000)


@pytest.mark.parametrize(
    ("now", "hot_since", "any_since", "quiet_since", "hot", "rows", "ready_at", "due"),
    [
        pytest.param(10.0, 0.0, 0.0, 0.0, 0, 0, 0.0, "", id="nothing buffered"),
        pytest.param(10.05, 10.0, 10.0, 0.0, 5, 9, 0.0, "", id="hot rows younger than the flush wait"),
        pytest.param(10.11, 10.0, 10.0, 0.0, 5, 9, 0.0, HOT, id="hot rows due"),
        pytest.param(10.01, 10.0, 10.0, 0.0, 1_000, 1_000, 0.0, ALL, id="a full batch"),
        pytest.param(10.5, 0.0, 9.5, 0.0, 0, 9, 0.0, ALL, id="other rows at the commit wait"),
        pytest.param(10.5, 0.0, 10.0, 0.0, 0, 9, 0.0, "", id="other rows wait for the commit"),
        pytest.param(10.25, 0.0, 10.0, 10.1, 0, 9, 0.0, ALL, id="input paused"),
        pytest.param(10.15, 10.0, 10.0, 10.1, 3, 9, 0.0, HOT, id="paused briefly, hot rows due"),
        pytest.param(10.03, 10.0, 10.0, 10.02, 3, 9, 10.01, HOT, id="caught up, hot rows at once"),
        pytest.param(10.03, 10.0, 10.0, 10.02, 3, 9, 10.05, "", id="caught up within the last flush's share"),
        pytest.param(10.03, 0.0, 10.0, 10.02, 0, 9, 0.0, "", id="caught up, only other rows"),
        pytest.param(10.11, 10.0, 10.0, 0.0, 3, 9, 10.2, HOT, id="the flush wait caps the share's"),
    ],
)
def test_flush_due(
    now: float,
    hot_since: float,
    any_since: float,
    quiet_since: float,
    hot: int,
    rows: int,
    ready_at: float,
    due: str,
) -> None:
    assert flush_due(SETTINGS, now, hot_since, any_since, quiet_since, hot, rows, ready_at) == due
