"""The statistics behind ``p_missed_read``, read from the stored passes at query time.

``SPAN_TRANSITS`` bins the transit times of one line's recent passes (``storage.missedread``
says which spans and why); ``GAP_PASSES`` reads the passes of the items whose violations are
being scored. Both are functions of the stored passes alone (each pass at its latest
verdict), whatever order they arrived in. SQL is parameterised, never formatted.
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from storage.client import Store
from storage.missedread import (
    BINS_PER_DOUBLING,
    MIN_TRANSIT_US,
    LineKey,
    LineModel,
    fit_lines,
    missed_read_probabilities,
)

# One shift of passes: a line making 60 items an hour shows a few dozen gaps per stage in it,
# and a portal that degrades shows in the answer within the shift.
MODEL_WINDOW = timedelta(hours=8)
# A busy line's window holds millions of passes; beyond this many, a fixed share of its items
# (by a hash of the item key, so each item's passes stay together) is enough to fit the model.
# The window functions cost ~1.3 µs per pass here: this bounds them to ~0.3 s.
MODEL_PASSES = 200_000
# A line's model is fitted again once passes were stored since, and it is this old.
MODEL_TTL_S = 60.0

_FILTER = """site = {site:String} AND line = {line:String}
          AND first_seen >= {since:DateTime64(6, 'UTC')}"""

PASSES_IN_WINDOW = f"""
SELECT count() AS passes FROM passes WHERE {_FILTER}
"""

# Each pass with the two before it of the same item on the same line, in time order; then
# the spans it closes (see missedread.transit_rows, which computes the same in memory):
# a leg (previous stage -> this one, a plain movement), a passed span (two stages back ->
# here, through the stage in between, both plain movements), a gap (a skipped-stage verdict
# of one missing stage, from the previous pass).
SPAN_TRANSITS = f"""
SELECT site, line, span.1 AS kind, span.2 AS before, span.3 AS stage, span.4 AS after,
       toInt32(floor({BINS_PER_DOUBLING} * log2(greatest(first_us - span.5, {MIN_TRANSIT_US}) / 1e6))) AS bin,
       count() AS items
FROM (
    SELECT site, line, first_us, arrayJoin(arrayFilter(s -> s.1 != '', [
        (if(moved, 'leg', ''), prev_stage, stage, '', prev_last),
        (if(moved AND n >= 3 AND prev_outcome = 'movement' AND prev_detail = ''
               AND before_stage != prev_stage AND before_stage != stage, 'passed', ''),
         before_stage, prev_stage, stage, before_last),
        (if(n >= 2 AND outcome = 'skipped_stage' AND position(gap, ',') = 0, 'gap', ''),
         prev_stage, gap, stage, prev_last)
    ])) AS span
    FROM (
        SELECT site, line, stage, outcome, detail, toUnixTimestamp64Micro(first_seen) AS first_us,
               replaceOne(detail, 'missing ', '') AS gap,
               row_number() OVER w AS n,
               lagInFrame(stage, 1) OVER w AS prev_stage,
               lagInFrame(outcome, 1) OVER w AS prev_outcome,
               lagInFrame(detail, 1) OVER w AS prev_detail,
               lagInFrame(toUnixTimestamp64Micro(last_seen), 1) OVER w AS prev_last,
               lagInFrame(stage, 2) OVER w AS before_stage,
               lagInFrame(toUnixTimestamp64Micro(last_seen), 2) OVER w AS before_last,
               n >= 2 AND outcome = 'movement' AND detail = '' AND stage != prev_stage AS moved
        FROM passes FINAL
        WHERE {_FILTER} AND cityHash64(item) % {{sample:UInt64}} = 0
        WINDOW w AS (PARTITION BY item ORDER BY first_seen, pass_id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)
    )
)
GROUP BY site, line, kind, before, stage, after, bin
ORDER BY site, line, kind, before, stage, after, bin
"""

GAP_PASSES = """
SELECT item, site, line, pass_id, stage, toUnixTimestamp64Micro(first_seen) AS first_us,
       toUnixTimestamp64Micro(last_seen) AS last_us, revision
FROM passes
WHERE item IN {items:Array(String)}
"""


STORED_PASSES = "SELECT count() AS passes FROM passes"


def span_transits(store: Store, site: str, line: str, since: datetime) -> list[dict[str, Any]]:
    """SPAN_TRANSITS of one line since ``since``, on a share of its items if it has many."""
    params: dict[str, Any] = {"site": site, "line": line, "since": since}
    passes = store.query(PASSES_IN_WINDOW, params)[0]["passes"]
    params["sample"] = max(1, math.ceil(passes / MODEL_PASSES))
    return store.query(SPAN_TRANSITS, params)


@dataclass
class _Fitted:
    at: float  # time.monotonic() when fitted
    stored: int  # rows in passes then
    model: LineModel


_fitted: weakref.WeakKeyDictionary[Store, dict[LineKey, _Fitted]] = weakref.WeakKeyDictionary()


def line_model(store: Store, site: str, line: str) -> LineModel:
    """The line's model over the last MODEL_WINDOW, fitted again only when passes were stored
    since the last fit and it is older than MODEL_TTL_S (the violations query stays fast)."""
    stored = store.query(STORED_PASSES)[0]["passes"]
    cache = _fitted.setdefault(store, {})
    kept = cache.get((site, line))
    now = time.monotonic()
    if kept is not None and (kept.stored == stored or now - kept.at < MODEL_TTL_S):
        return kept.model
    rows = span_transits(store, site, line, datetime.now(UTC) - MODEL_WINDOW)
    model = fit_lines(rows).get((site, line), LineModel({}, {}))
    cache[(site, line)] = _Fitted(now, stored, model)
    return model


def score_violations(store: Store, violations: Sequence[Mapping[str, Any]]) -> list[float | None]:
    """``p_missed_read`` for each violation row (site, line, item, pass_id, missing)."""
    gaps = [v for v in violations if v["missing"]]
    if not gaps:
        return [None] * len(violations)
    models = {key: line_model(store, *key) for key in sorted({(v["site"], v["line"]) for v in gaps})}
    found = store.query(GAP_PASSES, {"items": sorted({v["item"] for v in gaps})})
    latest: dict[str, dict[str, Any]] = {}
    for p in found:
        kept = latest.get(p["pass_id"])
        if kept is None or p["revision"] >= kept["revision"]:
            latest[p["pass_id"]] = p
    return missed_read_probabilities(violations, latest.values(), models)
