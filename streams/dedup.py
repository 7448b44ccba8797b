"""Stage 1 logic: reads to passes, by event time, per station (all antennas of its portal).

Reads of one item at one station closer together than the dedup window are one pass.
The state here is a cache: if a worker loses it, stage 2 merges the extra candidates
into the passes it already holds, so a replay changes nothing downstream.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.epc import item_key
from ingest.errors import InvalidInput
from ingest.plant import Plant, Station
from ingest.schema import Pass, ReadCycleReport


@dataclass(slots=True)
class _Open:
    first_us: int
    last_us: int


@dataclass
class PassDetector:
    """Open passes per (station, item); ``window_us`` is the dedup window in microseconds."""

    window_us: int
    open: dict[tuple[str, str], _Open] = field(default_factory=dict)
    watermark_us: int = 0

    def passes_of(self, report: ReadCycleReport, plant: Plant) -> list[Pass]:
        """New passes started by this report's reads; duplicates of open passes are absorbed.

        Raises InvalidInput if the report names a reader/antenna the plant does not know,
        or a site/line other than its read points'.
        """
        # Every read point is checked before any state changes: a rejected report must not
        # leave open passes behind that would swallow the next valid reads of its items.
        stations = [self._station_of(report, read.antenna, plant) for read in report.reads]
        # Keyed by first read too: one report may hold two passes of an item at a station.
        started: dict[tuple[str, str, int], Pass] = {}
        decoded: dict[str, str] = {}
        in_time_order = sorted(zip(report.reads, stations, strict=True), key=lambda rs: rs[0].time_us)
        for read, station in in_time_order:
            item = decoded.get(read.epc)
            if item is None:
                item = decoded[read.epc] = item_key(read.epc)
            key = (station.station, item)
            t = read.time_us
            if t > self.watermark_us:
                self.watermark_us = t
            current = self.open.get(key)
            if (
                current is not None
                and current.first_us - self.window_us <= t <= current.last_us + self.window_us
            ):
                current.last_us = max(current.last_us, t)
                new = started.get((*key, current.first_us))
                if new is not None:
                    started[(*key, current.first_us)] = _extend(new, t, read.count)
                continue
            self.open[key] = _Open(t, t)
            started[(*key, t)] = Pass(
                item,
                station.site,
                station.line,
                station.station,
                station.stage,
                report.reader_id,
                t,
                t,
                read.count,
            )
        return list(started.values())

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
        """Forget passes that no read can extend any more (older than the window); returns how many."""
        horizon = self.watermark_us - 2 * self.window_us
        stale = [k for k, v in self.open.items() if v.last_us < horizon]
        for k in stale:
            del self.open[k]
        return len(stale)


def _extend(p: Pass, t: int, count: int) -> Pass:
    return Pass(
        p.item,
        p.site,
        p.line,
        p.station,
        p.stage,
        p.reader_id,
        p.first_us,
        max(p.last_us, t),
        p.reads + count,
    )
