"""Stage 1 logic: reads to passes, by event time, per station (all antennas of its portal).

Reads of one item at one station closer together than the dedup window are one pass.
The state here is a cache: if a worker loses it, stage 2 merges the extra candidates
into the passes it already holds, so a replay changes nothing downstream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingest.epc import item_key
from ingest.errors import InvalidInput
from ingest.plant import Plant, Station
from ingest.schema import Pass, ReadCycleReport, TagRead, context_values, pass_id


@dataclass(slots=True)
class _Open:
    first_us: int
    last_us: int
    side: str = ""  # side of the first read; '' once the direction is known or if unknowable


# The direction of a pass first read on one side of a portal and then on the other.
DIRECTION = {("outside", "inside"): "enter", ("inside", "outside"): "exit"}


# A tag is read 10-20 times per pass and passes several stations: decode its EPC once.
ITEM_KEY_CACHE = 1_000_000


def _time(read: TagRead) -> int:
    return read.time_us


@dataclass
class PassDetector:
    """Open passes per (station, item); ``window_us`` is the dedup window in microseconds."""

    window_us: int
    open: dict[tuple[str, str], _Open] = field(default_factory=dict)
    # Per station, its latest read: only its own portal's reads extend a pass, so a pass is
    # forgotten by its station's event time, and a reader that lags the others of its input
    # partition (a spool sent after a reconnect) still finds the passes its reads extend.
    station_us: dict[str, int] = field(default_factory=dict)
    item_keys: dict[str, str] = field(default_factory=dict)  # EPC hex -> item key, a cache

    def passes_of(self, report: ReadCycleReport, plant: Plant) -> list[Pass]:
        """New passes started by this report's reads; duplicates of open passes are absorbed.

        Raises InvalidInput if the report names a reader/antenna the plant does not know,
        or a site/line other than its read points'.
        """
        # Every read point is checked before any state changes: a rejected report must not
        # leave open passes behind that would swallow the next valid reads of its items.
        stations = {a: self._station_of(report, a, plant) for a in {r.antenna for r in report.reads}}
        keys = self.item_keys
        if len(keys) > ITEM_KEY_CACHE:
            keys.clear()
        # Keyed by first read too: one report may hold two passes of an item at a station.
        started: dict[tuple[str, str, int], list[Any]] = {}
        # Passes opened by earlier reports whose direction this report's reads tell.
        turned: dict[tuple[str, str, int], list[Any]] = {}
        sides = {a: plant.side_of(report.reader_id, a) for a in stations} if plant.sides else {}
        window = self.window_us
        latest: dict[str, int] = {}  # per station, this report's last read (reads go in time order)
        for read in sorted(report.reads, key=_time):
            station = stations[read.antenna]
            item = read.key or keys.get(read.epc)
            if item is None:
                item = keys[read.epc] = item_key(read.epc)
            key = (station.station, item)
            t = read.time_us
            seen_last = read.last_us if read.last_us > t else t
            latest[station.station] = t
            current = self.open.get(key)
            if current is not None and current.first_us - window <= t <= current.last_us + window:
                if seen_last > current.last_us:
                    current.last_us = seen_last
                new = started.get((*key, current.first_us))
                if new is not None:
                    new[1] = max(new[1], seen_last)
                    new[2] += read.count
                elif (update := turned.get((*key, current.first_us))) is not None:
                    update[1] = max(update[1], seen_last)
                if current.side and (side := sides.get(read.antenna, "")) and side != current.side:
                    direction = DIRECTION[(current.side, side)]
                    current.side = ""
                    if new is not None:
                        new[4] = direction
                    else:
                        turned[(*key, current.first_us)] = [station, current.last_us, 0, item, direction]
                continue
            self.open[key] = _Open(t, seen_last, sides.get(read.antenna, ""))
            started[(*key, t)] = [station, seen_last, read.count, item, ""]
        seen = self.station_us
        for name, t in latest.items():
            if t > seen.get(name, 0):
                seen[name] = t
        told = context_values(report)  # what the report tells of its reads, each pass carries
        return [
            Pass(
                item=item,
                site=st.site,
                line=st.line,
                station=st.station,
                stage=st.stage,
                reader_id=report.reader_id,
                first_us=first,
                last_us=last,
                reads=reads,
                direction=way,
                **told,
            )
            for (_, _, first), (st, last, reads, item, way) in (*started.items(), *turned.items())
        ]

    def withdraw(self, report: ReadCycleReport, plant: Plant) -> list[tuple[str, str]]:
        """The (item, pass id) of the pass each read of a withdrawn report opened (its station,
        item and time); an open pass it opened is forgotten, so a later read opens a new one."""
        out = []
        for read in report.reads:
            station = self._station_of(report, read.antenna, plant).station
            item = read.key or item_key(read.epc)
            current = self.open.get((station, item))
            if current is not None and current.first_us == read.time_us:
                del self.open[(station, item)]
            out.append((item, pass_id(item, station, read.time_us)))
        return out

    @staticmethod
    def _station_of(report: ReadCycleReport, antenna: int, plant: Plant) -> Station:
        station = plant.station_of(report.reader_id, antenna)
        if station is None:
            raise InvalidInput("unknown_read_point", f"reader {report.reader_id} antenna {antenna}")
        if station.site != report.site or station.line != report.line:
            raise InvalidInput(
                "wrong_line",
                f"reader {report.reader_id} belongs to {station.site}/{station.line}, "
                f"report says {report.site}/{report.line}",
            )
        return station

    def evict(self) -> int:
        """Forget passes that no read can extend any more (older than the window at their
        station); returns how many."""
        horizon = {name: t - 2 * self.window_us for name, t in self.station_us.items()}
        stale = [k for k, v in self.open.items() if v.last_us < horizon[k[0]]]
        for k in stale:
            del self.open[k]
        return len(stale)
