"""Both stream stages on plain data, fed in any arrival order and any batching.

Input messages sit on their topic partitions as a producer wrote them; stage 1 takes batches
from the heads of any partitions, at any pace, and its bundles queue on the item-bundles
partitions, which stage 2 takes at its own pace, its forwards queuing behind them. An input
counts as idle whenever nothing of it is waiting, even if more of it is still to be
written, so verdicts are confirmed early and retracted as they would be on a real line. At
the end everything settles, and ``final`` is what ClickHouse would answer.
"""

from __future__ import annotations

import random
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ingest.plant import Plant
from ingest.schema import Aggregation, HoldEvent, JobEvent, ReadCycleReport
from ingest.settings import Settings
from ingest.topics import Topics
from ingest.wire import encode_aggregation, encode_hold, encode_job_event, encode_report
from streams.bundles import BundleBuilder, decode_bundle
from streams.counted import counted_of
from streams.progress import source_of
from streams.stage1 import Stage1
from streams.stage2 import Changes, RouteStates
from streams.wipcounts import MINUTE_US, wip_key

Row = Mapping[str, Any]
PASS_COLUMNS = ("item", "station", "first_seen", "last_seen", "reads", "direction", "outcome", "detail")
Message = ReadCycleReport | Aggregation | HoldEvent | JobEvent


@dataclass(frozen=True)
class Sent:
    """A message as written: the partition of its topic, and its event time."""

    message: Message
    partition: int

    @property
    def time_us(self) -> int:
        m = self.message
        return m.cycle_start_us if isinstance(m, ReadCycleReport) else m.time_us


class Arrival:
    def __init__(self, settings: Settings, plant: Plant, now_us: int):
        self.settings = settings
        self.topics = Topics.of(settings)
        self.stage1 = Stage1(settings, plant)
        self.states = RouteStates(settings, plant)
        for p in range(settings.partitions):
            self.states.load(p, [])
        self.inputs: dict[str, deque[tuple[int, Sent]]] = defaultdict(deque)  # source -> (offset, message)
        self.offsets: dict[str, int] = defaultdict(int)
        self.bundles: dict[int, deque[bytes]] = defaultdict(deque)
        self.tables: dict[str, list[Row]] = defaultdict(list)
        self.dead_letters: list[bytes] = []
        self.now_us = now_us
        sources = [source_of(t, p) for t in self._topics() for p in range(settings.partitions)]
        self.stage1.progress.hold(sources)

    def _topics(self) -> tuple[str, str, str]:
        return (self.topics.reads, self.topics.jobs, self.topics.aggregations)

    def _topic_of(self, message: Message) -> str:
        if isinstance(message, ReadCycleReport):
            return self.topics.reads
        return self.topics.aggregations if isinstance(message, Aggregation) else self.topics.jobs

    def write(self, sent: Sent) -> None:
        source = source_of(self._topic_of(sent.message), sent.partition)
        self.inputs[source].append((self.offsets[source], sent))
        self.offsets[source] += 1

    def stage1_batch(self, rng: random.Random, size: int) -> bool:
        """Up to ``size`` messages from the heads of randomly chosen input partitions."""
        batch = self.stage1.new_batch()
        taken = 0
        while taken < size and (waiting := [s for s, q in self.inputs.items() if q]):
            source = rng.choice(sorted(waiting))
            offset, sent = self.inputs[source].popleft()
            topic, partition = source.rsplit("/", 1)
            where = (topic, int(partition), offset)
            self.stage1.progress.took(source)
            self._take(batch, sent.message, where)
            taken += 1
        if not taken:
            return False
        self.stage1.progress.idle = {s: not self.inputs[s] for s in self.stage1.progress.event_us}
        self.stage1.end_batch(batch)
        for table, rows in batch.trace.items():
            self.tables[table].extend(rows)
        self.dead_letters.extend(batch.dead_letters)
        for item_partition, payload in batch.bundles.messages():
            self.bundles[item_partition].append(payload)
        return True

    def _take(self, batch: Any, message: Message, where: tuple[str, int, int]) -> None:
        if isinstance(message, ReadCycleReport):
            self.stage1.take_report(batch, encode_report(message), where, self.now_us)
        elif isinstance(message, HoldEvent):
            self.stage1.take_job_event(batch, encode_hold(message), where)
        elif isinstance(message, JobEvent):
            self.stage1.take_job_event(batch, encode_job_event(message), where)
        else:
            self.stage1.take_aggregation(batch, encode_aggregation(message), where)

    def stage2_batch(self, rng: random.Random, size: int) -> bool:
        """Up to ``size`` bundles of one item-bundles partition, then its settle."""
        waiting = sorted(p for p, q in self.bundles.items() if q)
        if not waiting:
            return False
        partition = rng.choice(waiting)
        queue = self.bundles[partition]
        for _ in range(min(size, len(queue))):
            self.states.apply(partition, decode_bundle(queue.popleft()))
        self._ship(self.states.settle(partition))
        return True

    def _ship(self, changes: Changes) -> None:
        forwards = BundleBuilder(self.settings.partitions)
        for record in changes.forwards:
            forwards.add(record)
        for partition, payload in forwards.messages():
            self.bundles[partition].append(payload)
        for table, table_rows in changes.tables():
            self.tables[table].extend(table_rows)

    def drain(self, rng: random.Random) -> None:
        """Everything still queued, at random paces, then every partition settled as idle."""
        while self.stage1_batch(rng, rng.randint(1, 6)) | self.stage2_batch(rng, rng.randint(1, 4)):
            pass
        self.settle_all()

    def settle_all(self) -> None:
        while True:
            for p in range(self.settings.partitions):
                self._ship(self.states.settle(p, idle=True))
            if not any(self.bundles.values()):
                return
            while any(self.bundles.values()):
                for p in sorted(self.bundles):
                    while self.bundles[p]:
                        self.states.apply(p, decode_bundle(self.bundles[p].popleft()))
                    self._ship(self.states.settle(p, idle=True))

    def final(self) -> dict[str, Any]:
        """What the queries would answer: the latest revision of each row, without revisions."""
        t = self.tables
        passes = {
            r["pass_id"]: tuple(r[c] for c in PASS_COLUMNS)
            for r in _latest(t["passes"], ("pass_id",), "revision")
        }
        open_violations = {
            r["pass_id"]: tuple(str(v) for k, v in sorted(r.items()) if k != "revision")
            for r in _latest(t["violations"], ("pass_id",), "revision")
            if not r["retracted"]
        }
        items = {
            r["item"]: tuple(v for k, v in sorted(r.items()) if k != "revision")
            for r in _latest(t["item_state"], ("item",), "revision")
            if not _says_nothing(r)
        }
        closure = {
            (r["node"], r["direction"], r["other"], r["depth"])
            for r in _latest(t["genealogy"], ("node", "direction", "other"), "version")
            if r["present"]
        }
        holds = {
            (item, hold_id, tuple(hold.intervals()))
            for states in self.states.items.values()
            for item, state in states.items()
            for hold_id, hold in state.custody.holds.items()
            if hold.intervals()
        }
        rates: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
        for r in _latest(t["portal_read_rates"], ("site", "line", "stage", "partition"), "revision"):
            rates[(r["site"], r["line"], r["stage"])][0] += r["observed"]
            rates[(r["site"], r["line"], r["stage"])][1] += r["read"]
        counts: dict[tuple[str, int], int] = defaultdict(int)
        for r in _latest(
            t["pass_counts"], ("site", "line", "station", "stage", "minute", "partition"), "revision"
        ):
            counts[(r["station"], r["minute"])] += r["passes"]
        wip: dict[tuple[str, str, str, int], int] = defaultdict(int)
        for r in _latest(t["wip_counts"], ("site", "line", "stage", "partition"), "revision"):
            for minute, n in zip(r["minutes"], r["minute_items"], strict=True):
                wip[(r["site"], r["line"], r["stage"], minute * MINUTE_US)] += n
        in_process: dict[tuple[str, str, str, int], int] = defaultdict(int)
        for r in _latest(t["item_state"], ("item",), "revision"):
            if (bucket := wip_key(counted_of(r))) is not None:  # type: ignore[arg-type]
                in_process[bucket] += 1
        assert dict(wip) == dict(in_process), "the WIP rollup disagrees with the item rows"
        jobs: dict[tuple[str, str], int] = defaultdict(int)
        for r in _latest(t["job_counts"], ("job", "partition"), "revision"):
            for status in ("complete", "in_process", "rejected"):
                if r[status]:
                    jobs[(r["job"], status)] += r[status]
        by_job: dict[tuple[str, str], int] = defaultdict(int)
        for r in _latest(t["item_state"], ("item",), "revision"):
            if r["job"] and r["status"] in ("complete", "in_process", "rejected"):
                by_job[(r["job"], r["status"])] += 1
        assert dict(jobs) == dict(by_job), "the job rollup disagrees with the item rows"
        return {
            "passes": passes,
            "wip": dict(wip),
            "jobs": dict(jobs),
            "open_violations": open_violations,
            "items": items,
            "genealogy": closure,
            "holds": holds,
            "read_rates": dict(rates),
            "pass_counts": dict(counts),
        }


def _says_nothing(row: Row) -> bool:
    """An item row no query tells from no row: never read, in nothing, bound to no job, not
    held. A parent held for a while through a child that, by event time, was never in it
    (its pack refused, or the hold released before the pack) keeps such a row when the
    events came in another order: it was held as far as the stream knew then."""
    empty = {"passes": 0, "on_hold": 0, "parent": "", "job": "", "status": "new"}
    return all(row[k] == v for k, v in empty.items())


def _latest(rows: list[Row], key: tuple[str, ...], version: str) -> list[Row]:
    latest: dict[tuple[Any, ...], Row] = {}
    for r in rows:
        k = tuple(r[c] for c in key)
        if k not in latest or r[version] >= latest[k][version]:
            latest[k] = r
    return list(latest.values())


def in_event_time_order(settings: Settings, plant: Plant, now_us: int, sent: list[Sent]) -> Arrival:
    """The reference: one message at a time in event-time order, each settled to the end."""
    run = Arrival(settings, plant, now_us)
    rng = random.Random(0)
    for s in sorted(sent, key=lambda s: s.time_us):
        run.write(s)
        run.stage1_batch(rng, 1)
        run.settle_all()
    return run


def in_arrival_order(
    settings: Settings, plant: Plant, now_us: int, written: list[Sent], rng: random.Random
) -> Arrival:
    """Messages written in the order given, taken and processed at random paces meanwhile."""
    run = Arrival(settings, plant, now_us)
    pending = deque(written)
    while pending:
        for _ in range(rng.randint(1, 8)):
            if pending:
                run.write(pending.popleft())
        for _ in range(rng.randint(0, 3)):
            run.stage1_batch(rng, rng.randint(1, 6))
            run.stage2_batch(rng, rng.randint(1, 4))
    run.drain(rng)
    return run
