"""The bench's read-to-stored latency: from the pass rows of its paced runs, once the sink has
stopped (the query opens the embedded store itself)."""

from __future__ import annotations

from typing import Any

from ingest.settings import Settings
from loadtest.benchcheck import PhaseRun, latency_sample_problem
from storage.client import connect

LATENCY = """
SELECT quantileExact(0.99)(ms) AS p99, quantileExact(0.5)(ms) AS p50, count() AS passes
FROM (
    SELECT (toUnixTimestamp64Micro(min(stored_at)) - toUnixTimestamp64Micro(min(first_seen))) / 1000 AS ms
    FROM passes
    WHERE first_seen >= fromUnixTimestamp64Micro({since:Int64})
      AND first_seen < fromUnixTimestamp64Micro({until:Int64})
    GROUP BY pass_id
)
"""


def latencies(settings: Settings, runs: list[PhaseRun]) -> tuple[dict[str, Any], list[str]]:
    """p99 and p50 of read time to first stored pass row, per paced run checked complete (the
    sink must be stopped); a sample that lacks any expected pass of its run is a problem."""
    store = connect(settings)
    try:
        out: dict[str, Any] = {}
        problems: list[str] = []
        for run in runs:
            since, until = run.window
            row = store.query(LATENCY, {"since": since, "until": until})[0]
            problem = latency_sample_problem(run.phase, run.passes_expected, int(row["passes"]))
            if problem:
                problems.append(problem)
                continue
            label = run.phase.removeprefix("paced_")
            out[f"latency_p99_ms_at_{label}"] = round(float(row["p99"]), 1)
            out[f"latency_p50_ms_at_{label}"] = round(float(row["p50"]), 1)
        return out, problems
    finally:
        store.close()
