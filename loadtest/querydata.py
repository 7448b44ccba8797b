"""Query benchmark: a plant-scale trace generated inside ClickHouse, then timed queries.

The data set is built with INSERT ... SELECT FROM numbers() (native speed, same DDL as
production): components assembled four to a unit, units packed ten to a case, cases
twenty-five to a pallet; links in both key orders; passes for every item; item state.
The generator's SQL is assembled from constants and integers of this module only. The
key-value serving tables (storage/serving.py) are filled from the generated record with
the INSERT ... SELECTs of storage/serving_refill.sql: what the sink's merges of the same rows leave there
(tests/integration/test_serving.py), so the timed lookups read what a pipeline writes.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest.epcis.query import page, parse_query
from ingest.plant import Plant, parse_plant
from ingest.settings import Settings
from loadtest.benchcheck import epcis_answer_problem
from storage import epcisquery, queries, serving
from storage.client import Store, connect

BASE = "2026-01-01 00:00:00"
SITE, LINE = "BENCH-SITE", "BENCH-LINE"
LEVELS = ("000010", "000011", "000012", "000013")  # component, unit, case, pallet item refs
PER_PARENT = (4, 10, 25)  # children per unit, per case, per pallet
WIP_ONE_IN, WIP_STAGES, PARTITIONS = 20, 9, 12  # units in process, the stages they are at, partitions


@dataclass(frozen=True)
class QuerySizes:
    units: int
    passes_per_item: int
    samples: int

    @classmethod
    def quick(cls) -> QuerySizes:
        return cls(units=20_000, passes_per_item=10, samples=100)

    @classmethod
    def full(cls) -> QuerySizes:
        return cls(units=1_960_000, passes_per_item=10, samples=300)

    def counts(self) -> list[int]:
        """Items per level: components, units, cases, pallets."""
        units = self.units
        cases = -(-units // PER_PARENT[1])
        return [units * PER_PARENT[0], units, cases, -(-cases // PER_PARENT[2])]


def item(level: int, n: str) -> str:
    """SQL expression of the item key of level ``level`` with serial expression ``n``."""
    return f"concat('urn:epc:id:sgtin:0614141.{LEVELS[level]}.', toString({n}))"


def generate_query_data(settings: Settings, sizes: QuerySizes) -> dict[str, Any]:
    store = connect(settings)
    try:
        started = time.monotonic()
        counts = sizes.counts()
        links = 0
        for level in range(3):  # child level -> parent level + 1
            n = counts[level]
            child, parent = item(level, "number"), item(level + 1, f"intDiv(number, {PER_PARENT[level]})")
            for node, other, direction in ((parent, child, "down"), (child, parent, "up")):
                store.command(
                    "INSERT INTO links (node, other, direction, link_id, site, line, station, time) "
                    f"SELECT {node}, {other}, '{direction}', toString(cityHash64(number, {level})), "
                    f"'{SITE}', '{LINE}', 'PACK', toDateTime64('{BASE}', 6, 'UTC') + number "
                    f"FROM numbers({n})"
                )
            links += n
        closure = 0
        for level in range(3):  # every ancestor of every item, as the stream writes them
            span = 1
            for k in range(1, 4 - level):
                span *= PER_PARENT[level + k - 1]
                n = counts[level]
                below, above = item(level, "number"), item(level + k, f"intDiv(number, {span})")
                for node, other, direction in ((below, above, "up"), (above, below, "down")):
                    store.command(
                        "INSERT INTO genealogy "
                        "(node, direction, other, depth, present, version, site, line, station, time) "
                        f"SELECT {node}, '{direction}', {other}, {k}, 1, 1, '{SITE}', '{LINE}', 'PACK', "
                        f"toDateTime64('{BASE}', 6, 'UTC') + number FROM numbers({n})"
                    )
                closure += n
        passes = 0
        for level, n in enumerate(counts):
            k = sizes.passes_per_item
            store.command(
                "INSERT INTO passes (pass_id, item, site, line, station, stage, reader_id, first_seen, "
                "last_seen, reads, product, job, outcome, detail, revision) "
                f"SELECT toString(cityHash64(number, {level})), {item(level, f'intDiv(number, {k})')}, "
                f"'{SITE}', '{LINE}', concat('ST', toString(number % {k})), "
                f"concat('s', toString(number % {k})), "
                f"concat('R', toString(number % {k})), "
                f"toDateTime64('{BASE}', 6, 'UTC') + intDiv(number, {k}) * 0.05 + (number % {k}) * 60, "
                f"toDateTime64('{BASE}', 6, 'UTC') + intDiv(number, {k}) * 0.05 + (number % {k}) * 60 + 2, "
                f"16, 'BENCH', 'J-1', 'movement', '', 1 FROM numbers({n * k})"
            )
            store.command(
                "INSERT INTO item_state (item, site, line, product, job, stage, station, status, parent, "
                "first_seen, last_seen, passes, revision) "
                f"SELECT {item(level, 'number')}, '{SITE}', '{LINE}', 'BENCH', 'J-1', 's9', 'ST9', "
                f"'complete', '', toDateTime64('{BASE}', 6, 'UTC'), toDateTime64('{BASE}', 6, 'UTC'), {k}, 1 "
                f"FROM numbers({n})"
            )
            passes += n * k
        wip, violations = _line_board_data(store, counts)
        # What stage 2 writes as passes join their items' histories: counts per station per minute.
        store.command(
            "INSERT INTO pass_counts (site, line, station, stage, minute, partition, passes, revision) "
            "SELECT site, line, station, stage, toStartOfMinute(first_seen), 0, count(), 1 FROM passes "
            "GROUP BY site, line, station, stage, toStartOfMinute(first_seen)"
        )
        serving_started = time.monotonic()
        serving.refill(store)
        serving_s = round(time.monotonic() - serving_started, 1)
        # Time the queries on a settled store, not against the merges of a bulk load.
        settle_deadline = time.monotonic() + 600
        while (
            store.query("SELECT count() AS n FROM system.merges")[0]["n"]
            and time.monotonic() < settle_deadline
        ):
            time.sleep(1)
        return {
            "query_data": {
                **asdict(sizes),
                "items": sum(counts),
                "links": links,
                "closure_pairs": closure,
                "passes": passes,
                "in_process": wip,
                "violations": violations,
            },
            "query_data_build_s": round(time.monotonic() - started, 1),
            "query_data_serving_s": serving_s,
        }
    finally:
        store.close()


def _line_board_data(store: Any, counts: list[int]) -> tuple[int, int]:
    """What the line board reads besides throughput, at plant scale: one unit in twenty still
    in process at one of the first nine stages (its row replaces the unit's complete one), the
    WIP rollup stage 2 writes beside those rows (12 partitions), a violation on one component
    pass in a hundred, the stations with their targets and the portals' read rates. Returns
    the items in process and the violations."""
    units = counts[1]
    store.command(
        "INSERT INTO item_state (item, site, line, product, job, stage, station, status, parent, "
        "first_seen, last_seen, passes, revision) "
        f"SELECT {item(1, 'number')}, '{SITE}', '{LINE}', 'BENCH', 'J-1', "
        f"concat('s', toString(number % {WIP_STAGES})), concat('ST', toString(number % {WIP_STAGES})), "
        f"'in_process', '', toDateTime64('{BASE}', 6, 'UTC') + number * 0.05, "
        f"toDateTime64('{BASE}', 6, 'UTC') + number * 0.05, 5, 2 "
        f"FROM numbers({units}) WHERE number % {WIP_ONE_IN} = 0"
    )
    store.command(
        "INSERT INTO wip_counts (site, line, stage, partition, items, minutes, minute_items, revision) "
        "SELECT site, line, stage, p, sum(n), groupArray(m), groupArray(n), 1 FROM ("
        f"  SELECT site, line, stage, cityHash64(item) % {PARTITIONS} AS p, "
        "   intDiv(toUnixTimestamp(last_seen), 60) AS m, count() AS n "
        "  FROM item_state FINAL WHERE status = 'in_process' "
        "  GROUP BY site, line, stage, p, m ORDER BY m"
        ") GROUP BY site, line, stage, p"
    )
    n = counts[0]
    store.command(
        "INSERT INTO violations (pass_id, item, site, line, station, stage, time, type, detail, product, "
        "job, retracted, revision) "
        f"SELECT toString(cityHash64(number, 0)), {item(0, 'intDiv(number, 10)')}, '{SITE}', '{LINE}', "
        "concat('ST', toString(number % 10)), concat('s', toString(number % 10)), "
        f"toDateTime64('{BASE}', 6, 'UTC') + intDiv(number, 10) * 0.05 + (number % 10) * 60, "
        "'skipped_stage', 'missing s1', 'BENCH', 'J-1', 0, 1 "
        f"FROM numbers({n * 10}) WHERE number % 100 = 7"
    )
    store.command(
        "INSERT INTO stations (site, line, station, stage, target_per_hour) "
        f"SELECT '{SITE}', '{LINE}', concat('ST', toString(number)), concat('s', toString(number)), 3600 "
        "FROM numbers(10)"
    )
    store.command(
        "INSERT INTO portal_read_rates (site, line, stage, partition, observed, read, revision) "
        f"SELECT '{SITE}', '{LINE}', concat('s', toString(number % 10)), intDiv(number, 10), 1000, 990, 1 "
        f"FROM numbers({10 * PARTITIONS})"
    )
    return -(-units // WIP_ONE_IN), n * 10 // 100


def bench_plant() -> dict[str, Any]:
    """The plant file of the generated line: stages s0..s9, a station each (ST0..ST9) with a
    target of one pass a second."""
    stages = [f"s{i}" for i in range(10)]
    return {
        "sites": [
            {
                "site": SITE,
                "lines": [
                    {
                        "line": LINE,
                        "stages": stages,
                        "stations": [
                            {"station": f"ST{i}", "stage": s, "target_per_hour": 3600}
                            for i, s in enumerate(stages)
                        ],
                        "read_points": [
                            {"reader": f"R{i}", "antenna": 1, "station": f"ST{i}"} for i in range(10)
                        ],
                        "products": [{"product": "BENCH", "route": {"stages": stages}}],
                    }
                ],
            }
        ]
    }


def time_queries(settings: Settings, sizes: QuerySizes) -> tuple[dict[str, Any], list[str]]:
    """The queries' p95 on the generated store, and what was wrong in their answers (the EPCIS
    query's, checked: its figure is left out when any was wrong)."""
    store = connect(settings)
    rng = random.Random(1)
    counts = sizes.counts()
    try:

        def component() -> str:
            return f"urn:epc:id:sgtin:0614141.{LEVELS[0]}.{rng.randrange(counts[0])}"

        def case() -> str:
            return f"urn:epc:id:sgtin:0614141.{LEVELS[2]}.{rng.randrange(counts[2])}"

        # The lookups by key, from the record and then from the serving tables (served_*).
        timed: dict[bool, tuple[list[float], list[float], list[float]]] = {}
        for served in (False, True):
            store.serving = served
            timed[served] = (
                _timed(lambda: queries.trace(store, component(), "up"), sizes.samples),
                _timed(lambda: queries.trace(store, case(), "down"), sizes.samples),
                _timed(lambda: queries.item_history(store, component()), sizes.samples),
            )
        store.serving = settings.serving_tables
        ancestors, descendants, history = timed[False]
        served_up, served_down, served_history = timed[True]
        base = datetime(2026, 1, 1, tzinfo=UTC)
        span_h = max(1, int(counts[0] * 0.05 / 3600))

        def throughput_hour() -> object:
            since = base + timedelta(hours=rng.randrange(span_h))
            return queries.throughput(store, since, since + timedelta(hours=1), SITE, LINE)

        throughput = _timed(throughput_hour, sizes.samples)
        epcis, wrong = _timed_epcis_query(store, sizes, lambda: rng.randrange(counts[0]))
        wrong += _serving_answers_wrong(store, [component() for _ in range(10)], [case() for _ in range(10)])
        figures = {
            "genealogy_p95_ms": _p95(ancestors + descendants),
            "genealogy_up_p95_ms": _p95(ancestors),
            "genealogy_down_p95_ms": _p95(descendants),
            "item_history_p95_ms": _p95(history),
            "throughput_query_p95_ms": _p95(throughput),
            "served_genealogy_p95_ms": _p95(served_up + served_down),
            "served_genealogy_up_p95_ms": _p95(served_up),
            "served_genealogy_down_p95_ms": _p95(served_down),
            "served_item_history_p95_ms": _p95(served_history),
        }
        if wrong:
            return figures, [
                f"{len(wrong)} answers wrong (epcis query: of {len(epcis) + 1}), the first: {wrong[0]}"
            ]
        return {**figures, "epcis_query_p95_ms": _p95(epcis)}, []
    finally:
        store.close()


def _serving_answers_wrong(store: Store, components: list[str], cases: list[str]) -> list[str]:
    """Where the serving tables' answers differ from the record's: histories and traces up of
    ``components``, traces down of ``cases``, each asked both ways."""

    def asked(serving_tables: bool) -> list[object]:
        was, store.serving = store.serving, serving_tables
        try:
            return [
                *(queries.item_history(store, c) for c in components),
                *(queries.trace(store, c, "up") for c in components),
                *(queries.trace(store, c, "down") for c in cases),
            ]
        finally:
            store.serving = was

    served, record = asked(True), asked(False)
    names = [*(f"history {c}" for c in components), *(f"trace up {c}" for c in components)]
    names += [f"trace down {c}" for c in cases]
    return [
        f"serving tables: {n} differs from the record"
        for n, a, b in zip(names, served, record, strict=True)
        if a != b
    ]


def epcis_plant() -> Plant:
    """The generated line as the EPCIS query maps it: ``bench_plant`` and the station the links
    are made at (PACK, stage ``packing``), so packs are answered as AggregationEvents."""
    raw = bench_plant()
    line = raw["sites"][0]["lines"][0]
    line["stages"].append("packing")
    line["stations"].append({"station": "PACK", "stage": "packing"})
    return parse_plant(raw, source="loadtest.querydata")


def _timed_epcis_query(
    store: Store, sizes: QuerySizes, serial: Callable[[], int]
) -> tuple[list[float], list[str]]:
    """Milliseconds of ``GET /epcis/events?MATCH_epc=`` a random component (what the API calls:
    the store's events, then the first page), and what was wrong in the answers: each must hold
    the component's passes as ObjectEvents and its pack into its unit, nothing else."""
    plant = epcis_plant()
    wrong: list[str] = []

    def one_epc() -> None:
        n = serial()
        epc = f"urn:epc:id:sgtin:0614141.{LEVELS[0]}.{n}"
        query = parse_query({"MATCH_epc": epc})
        found, _ = page(epcisquery.events(store, plant, query, "", ""), query)
        unit = f"urn:epc:id:sgtin:0614141.{LEVELS[1]}.{n // PER_PARENT[0]}"
        problem = epcis_answer_problem(found, epc, unit, sizes.passes_per_item)
        if problem:
            wrong.append(problem)

    return _timed(one_epc, sizes.samples), wrong


def _timed(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # the first call pays for caches and compilation; it is not a sample
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def _p95(samples: list[float]) -> float:
    return round(statistics.quantiles(samples, n=100)[94], 2)
