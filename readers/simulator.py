"""A simulated line: items flow through stations, portals read them noisily.

Housings are cut, machined (at one of two stations) and assembled in pairs into an
actuator (an aggregation event), which goes through QC (sometimes back to assembly for
rework) and packing, where actuators are packed into cases (another aggregation).

The portal model: each reader reads a pass with its own probability (drawn from 60-95%),
reads each tag several times per cycle on several antennas, and keeps its own clock, off
by up to a few hundred milliseconds and drifting. Now and then a tag parks under a portal
and is read hundreds of times per cycle (a duplicate storm), a reader sends a cycle twice,
a housing skips machining (or an actuator QC, if configured), or a foreign tag shows up.
Pure: ``advance(now_us)`` returns the events due.

The simulator knows what the portals cannot: ``skipped`` holds the (item key, stage) of every
stage an item really left out, so a gap in its passes that is not there was a missed read.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

from ingest.epc import encode_sgtin96, item_key
from ingest.plant import Plant
from ingest.schema import Aggregation, HoldEvent, JobEvent, QcResult, ReadCycleReport, TagRead

S = 1_000_000  # microseconds per second
COMPANY = "0614141"
HOUSING_REF, ACTUATOR_REF = "000001", "000002"
HELD_HOUSING = 12  # the housing quality holds, with supervisors (the 12th made)


@dataclass(frozen=True)
class SimConfig:
    items_per_minute: float = 60.0
    cycle_s: float = 0.5
    dwell_s: tuple[float, float] = (1.0, 2.5)
    travel_s: tuple[float, float] = (2.0, 5.0)
    portal_read_rate: tuple[float, float] = (0.6, 0.95)  # each reader's pass read rate is drawn from this
    antenna_read_rate: float = 0.6
    skip_machine_rate: float = 0.03
    skip_qc_rate: float = 0.0  # an actuator goes from assembly straight to packing
    rework_rate: float = 0.08
    foreign_tag_rate: float = 0.01
    duplicate_cycle_rate: float = 0.01
    unmapped_antenna_rate: float = 0.005  # a spare antenna port cabled but not in the plant file
    storm_rate: float = (
        0.01  # a tag parks under a portal: read on every antenna, every cycle, hundreds of times
    )
    storm_s: tuple[float, float] = (5.0, 15.0)
    clock_offset_ms: float = 200.0  # each reader's clock is off by up to this much
    clock_drift_ppm: float = 50.0  # and drifts by up to this much
    case_size: int = 4  # actuators packed into one case
    bind_every: int = 20
    seed: int = 7
    serial_base: int = 0  # serials start after this: a later run on a kept store makes new items
    # The people of the line too (the demo): a job plan heading past its due date, a blocker,
    # a delay, a job ready to ship, inspectors' QC results (some still pending) and an
    # inspector's logged-in scans at QC. Off by default, so a seed gives the same reads.
    supervisors: bool = False
    qc_result_rate: float = 0.85  # actuators at QC that get a result (the rest are pending)
    qc_fail_rate: float = 0.05  # of those, failed: rejected, not packed


@dataclass
class _Visit:
    epc: str
    station: str
    start_us: int
    end_us: int
    storm: bool = False


@dataclass
class LineSimulator:
    plant: Plant
    config: SimConfig
    start_us: int
    site: str = ""  # default: the site and line of the plant's read points
    line: str = ""
    rng: random.Random = field(init=False)
    visits: list[_Visit] = field(default_factory=list)
    due: list[tuple[int, object]] = field(default_factory=list)
    next_spawn_us: int = 0
    serial: int = 0
    waiting_housings: list[tuple[str, int]] = field(default_factory=list)
    unbound: list[str] = field(default_factory=list)
    cycle_seq: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    next_cycle_us: int = 0
    housings: int = 0
    actuators: int = 0
    cases: int = 0
    packed: list[str] = field(default_factory=list)  # actuators waiting for a full case
    skipped: set[tuple[str, str]] = field(default_factory=set)  # (item key, stage) left out

    def __post_init__(self) -> None:
        self.rng = random.Random(self.config.seed)
        self.people = random.Random(self.config.seed + 1)  # the supervisors' own draws
        self.operators: dict[str, str] = {}  # reader -> the operator logged in at it
        self.serial = self.config.serial_base
        self.next_spawn_us = self.start_us
        self.next_cycle_us = self.start_us
        self.readers: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for (reader, antenna), station in sorted(self.plant.read_points.items()):
            self.readers[reader].append((antenna, station.station))
            if not self.site:
                self.site, self.line = station.site, station.line
        self.seen_stations = {s for v in self.readers.values() for _, s in v}
        self.stage_of = {name: st.stage for name, st in self.plant.stations().items()}
        c = self.config
        self.read_rate = {r: self.rng.uniform(*c.portal_read_rate) for r in sorted(self.readers)}
        self.station_rate = {st: self.read_rate[r] for r, points in self.readers.items() for _, st in points}
        self.clock_offset_us = {r: self.rng.uniform(-1, 1) * c.clock_offset_ms * 1000 for r in self.read_rate}
        self.clock_drift = {r: self.rng.uniform(-1, 1) * c.clock_drift_ppm * 1e-6 for r in self.read_rate}
        if c.supervisors:  # an inspector logged in at the QC station's reader
            self.operators = {
                r: "OP-07" for r, points in self.readers.items() if any(s == "QC-1" for _, s in points)
            }
            self._plan_jobs()  # once the site and line are known

    def reader_time(self, reader: str, t_us: int) -> int:
        """What ``reader``'s clock says at true time ``t_us``."""
        return t_us + int(self.clock_offset_us[reader] + self.clock_drift[reader] * (t_us - self.start_us))

    def advance(self, now_us: int) -> list[object]:
        """Events (reports, aggregations, job events) that happen up to ``now_us``."""
        interval = int(60 * S / self.config.items_per_minute)
        while self.next_spawn_us <= now_us:
            self._spawn_housing(self.next_spawn_us)
            self.next_spawn_us += interval
        out: list[object] = []
        cycle_us = int(self.config.cycle_s * S)
        while self.next_cycle_us + cycle_us <= now_us:
            out.extend(self._cycle(self.next_cycle_us, self.next_cycle_us + cycle_us))
            self.next_cycle_us += cycle_us
        ready = [e for t, e in self.due if t <= now_us]
        self.due = [(t, e) for t, e in self.due if t > now_us]
        horizon = now_us - 60 * S
        self.visits = [v for v in self.visits if v.end_us > horizon]
        return ready + out

    def _epc(self, item_ref: str) -> str:
        self.serial += 1
        return encode_sgtin96(COMPANY, item_ref, self.serial)

    def _span(self, bounds: tuple[float, float]) -> int:
        return int(self.rng.uniform(*bounds) * S)

    def _route(
        self, epc: str, t: int, stations: list[str], visits: list[tuple[str, int]] | None = None
    ) -> int:
        """The item's visits to ``stations`` in turn from ``t`` (a portal may miss one);
        returns when it has left the last. ``visits`` collects (station, end of visit)."""
        for station in stations:
            end = t + self._span(self.config.dwell_s)
            if visits is not None:
                visits.append((station, end))
            if self.rng.random() < self.config.storm_rate:
                end += self._span(self.config.storm_s)
                self.visits.append(_Visit(epc, station, t, end, storm=True))
            elif self.rng.random() < self.station_rate.get(station, 1.0):
                self.visits.append(_Visit(epc, station, t, end))
            t = end + self._span(self.config.travel_s)
        return t

    def _spawn_housing(self, t: int) -> None:
        epc = self._epc(HOUSING_REF)
        self.housings += 1
        skip = self.rng.random() < self.config.skip_machine_rate
        machine = [] if skip else [self.rng.choice(["MACH-1", "MACH-2"])]
        if skip:
            self.skipped.add((item_key(epc), self.stage_of["MACH-1"]))
        arrive = self._route(epc, t, ["CUT-1", *machine])
        self.visits.append(_Visit(epc, "ASSY-1", arrive, arrive + self._span(self.config.dwell_s)))
        self._bind(epc, t)
        if self.config.supervisors and self.housings == HELD_HOUSING:
            self._hold(item_key(epc), arrive)
        self.waiting_housings.append((epc, arrive))
        if len(self.waiting_housings) == 2:
            self._assemble(t)
        if self.rng.random() < self.config.foreign_tag_rate:
            foreign = f"E2801160{self.rng.getrandbits(64):016X}"
            self.visits.append(_Visit(foreign, "QC-1", arrive, arrive + 2 * S))

    def _plan_jobs(self) -> None:
        """The supervisors' job events of the run: J-1001 planned to finish in 80 minutes and
        due in 30 (so it is late at its rate), J-1002 blocked by a tool, a delay on J-1001,
        and J-0999 (a small order) ready for dispatch."""
        t, minute = self.start_us, 60 * S

        def job(event: str, job: str, at: int, **fields: object) -> None:
            ev = JobEvent(
                event=event,
                job=job,
                site=self.site,
                line=self.line,
                product=str(fields.pop("product", "")),
                quantity=int(str(fields.pop("quantity", 0))),
                items=(),
                time_us=at,
                **fields,  # type: ignore[arg-type]
            )
            self.due.append((at, ev))

        job(
            "created", "J-1001", t, product="HOUSING", quantity=5000, planned_start_us=t,
            planned_end_us=t + 80 * minute, due_us=t + 30 * minute, target_rate_per_h=3600.0,
        )  # fmt: skip
        job("created", "J-0999", t, product="ACTUATOR", quantity=4, due_us=t + 240 * minute)
        job(
            "blocker_opened", "J-1002", t + 5 * S, blocker_id="B-17", blocker_type="tool",
            owner="maintenance", note="torque driver out of calibration",
        )  # fmt: skip
        job("delay", "J-1001", t + 15 * S, note="coil change at cut took 12 minutes")
        job("ready_for_dispatch", "J-0999", t + 20 * S, note="4 actuators, customer pick-up")

    def _hold(self, housing: str, at: int) -> None:
        """Quality puts a housing on hold as it reaches assembly: the hold reaches the actuator
        it goes into (`held`, and its passes are on_hold)."""
        hold = HoldEvent(
            event="placed", hold_id="H-3", site=self.site, line=self.line, items=(housing,),
            hold_type="material", owner="QA", reason="coil from a supplier lot under investigation",
            time_us=at,
        )  # fmt: skip
        self.due.append((at, hold))

    def _inspect(self, actuator: str, at: int, reworked: bool) -> bool:
        """An inspector's QC result on an actuator leaving QC (supervisors only); False if it
        failed (it is rejected and not packed)."""
        if not self.config.supervisors or self.people.random() >= self.config.qc_result_rate:
            return True
        failed = not reworked and self.people.random() < self.config.qc_fail_rate
        result = "rework" if reworked else "fail" if failed else "pass"
        notes = {"rework": "burr on the shaft", "fail": "crack at the weld", "pass": ""}[result]
        qc = QcResult(
            item=actuator, job="J-1002", site=self.site, line=self.line, station="QC-1",
            result=result, notes=notes, time_us=at,
        )  # fmt: skip
        self.due.append((at, qc))
        return not failed

    def _bind(self, epc: str, t: int) -> None:
        self.unbound.append(epc)
        if len(self.unbound) >= self.config.bind_every:
            items = tuple(item_key(e) for e in self.unbound)
            self.due.append(
                (
                    t,
                    JobEvent(
                        event="items_bound",
                        job="J-1001",
                        site=self.site,
                        line=self.line,
                        product="HOUSING",
                        quantity=0,
                        items=items,
                        time_us=t,
                    ),
                )
            )
            self.unbound = []

    def _assemble(self, t: int) -> None:
        (a, ta), (b, tb) = self.waiting_housings
        self.waiting_housings = []
        start = max(ta, tb) + self._span(self.config.dwell_s)
        parent = self._epc(ACTUATOR_REF)
        self.actuators += 1
        self.due.append(
            (
                start,
                Aggregation(
                    site=self.site,
                    line=self.line,
                    station="ASSY-1",
                    parent=item_key(parent),
                    children=(item_key(a), item_key(b)),
                    time_us=start,
                ),
            )
        )
        # Drawn only when configured, so the default line stays the same line for a given seed.
        skip_qc = self.config.skip_qc_rate > 0 and self.rng.random() < self.config.skip_qc_rate
        stations = ["ASSY-1"] if skip_qc else ["ASSY-1", "QC-1"]
        if skip_qc:
            self.skipped.add((item_key(parent), self.stage_of["QC-1"]))
        elif self.rng.random() < self.config.rework_rate:
            stations += ["ASSY-1", "QC-1"]
        if self.config.supervisors:
            self.due.append(
                (start, JobEvent(
                    event="items_bound", job="J-1002", site=self.site, line=self.line, product="ACTUATOR",
                    quantity=0, items=(item_key(parent),), time_us=start,
                ))
            )  # fmt: skip
        if not self.config.supervisors or skip_qc:
            self._pack(item_key(parent), self._route(parent, start, [*stations, "PACK-1"]))
            return
        visits: list[tuple[str, int]] = []
        left = self._route(parent, start, stations, visits)
        *first, last = [end for station, end in visits if station == "QC-1"]
        for end in first:
            self._inspect(item_key(parent), end, reworked=True)
        if self._inspect(item_key(parent), last, reworked=False):
            self._pack(item_key(parent), self._route(parent, left, ["PACK-1"]))

    def _pack(self, actuator: str, t: int) -> None:
        """Actuators leaving packing fill cases (SSCC); a full case is an aggregation."""
        self.packed.append(actuator)
        if len(self.packed) < self.config.case_size:
            return
        self.cases += 1
        case = f"urn:epc:id:sscc:{COMPANY}.{self.cases:010d}"
        children, self.packed = tuple(self.packed), []
        self.due.append(
            (
                t,
                Aggregation(
                    site=self.site,
                    line=self.line,
                    station="PACK-1",
                    parent=case,
                    children=children,
                    time_us=t,
                ),
            )
        )

    def _cycle(self, start: int, end: int) -> list[ReadCycleReport]:
        present: dict[str, list[_Visit]] = defaultdict(list)
        for v in self.visits:
            if v.start_us < end and v.end_us > start:
                present[v.station].append(v)
        reports = []
        for reader, antennas in sorted(self.readers.items()):
            reads = []
            for antenna, station in antennas:
                for v in present.get(station, ()):
                    if v.storm or self.rng.random() < self.config.antenna_read_rate:
                        at = max(start, v.start_us) + self.rng.randrange(
                            max(1, min(end, v.end_us) - max(start, v.start_us))
                        )
                        reads.append(
                            TagRead(
                                v.epc,
                                antenna,
                                self.reader_time(reader, at),
                                self.rng.randint(50, 300) if v.storm else self.rng.randint(1, 6),
                                round(self.rng.uniform(-70, -40), 1),
                            )
                        )
            if reads and self.rng.random() < self.config.unmapped_antenna_rate:
                stray = reads[0]
                reads.append(TagRead(stray.epc, 99, stray.time_us, 1, stray.rssi))
            seq = self.cycle_seq[reader]
            self.cycle_seq[reader] += 1
            if reads:
                cycle_start = min(self.reader_time(reader, start), *(r.time_us for r in reads))
                operator = self.operators.get(reader, "")
                report = ReadCycleReport(
                    site=self.site,
                    line=self.line,
                    reader_id=reader,
                    cycle_seq=seq,
                    cycle_start_us=cycle_start,
                    reads=tuple(reads),
                    operator=operator,
                )
                reports.append(report)
                if self.rng.random() < self.config.duplicate_cycle_rate:
                    reports.append(report)
        return reports
