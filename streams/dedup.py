"""Stage 1 logic: reads to passes, by event time, per station (all antennas of its portal).

Reads of one item at one station closer together than the dedup window are one pass.
The state here is a cache: if a worker loses it, stage 2 merges the extra candidates
into the passes it already holds, so a replay changes nothing downstream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ingest.epc import item_key
from ingest.errors import InvalidInput
from ingest.plant import Plant, Station
from ingest.schema import Pass, ReadCycleReport, ReadFields, context_values, pass_id, read_fields


@dataclass(slots=True)
class _Open:
    first_us: int
    last_us: int
    side: str = ""  # side of the first read; '' once the direction is known or if unknowable


# The direction of a pass first read on one side of a portal and then on the other.
DIRECTION = {("outside", "inside"): "enter", ("inside", "outside"): "exit"}


# A tag is read 10-20 times per pass and passes several stations: decode its EPC once.
ITEM_KEY_CACHE = 1_000_000


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
    # Per station, the horizon of the last sweep of ``open`` (``evict``).
    swept_us: dict[str, int] = field(default_factory=dict)

    def passes_of(self, report: ReadCycleReport, plant: Plant) -> list[Pass]:
        """New passes started by this report's reads (``passes_of_reads``)."""
        return self.passes_of_reads(report, [read_fields(r) for r in report.reads], plant)

    def passes_of_reads(
        self, report: ReadCycleReport, reads: Sequence[ReadFields], plant: Plant
    ) -> list[Pass]:
        """New passes started by ``reads``, the reads of ``report`` (its own ``reads`` are not
        looked at); duplicates of open passes are absorbed.

        The reads are grouped by item and station first, so the open passes are looked up
        once per item a report holds (a tag is read on every antenna of the portal, and in
        several cycles), and each group's reads are taken in time order; the passes are
        returned in the order of the reads that opened (then turned) them.

        Raises InvalidInput if the report names a reader/antenna the plant does not know,
        or a site/line other than its read points'.
        """
        # Every read point is checked before any state changes: a rejected report must not
        # leave open passes behind that would swallow the next valid reads of its items.
        stations = {a: self._station_of(report, a, plant) for a in {r[1] for r in reads}}
        sides = {a: plant.side_of(report.reader_id, a) for a in stations} if plant.sides else {}
        times = [r[2] for r in reads]
        # Each entry: the time and index of the read that opened (or turned) the pass, the
        # pass's first read time, and [station, last, reads, item, direction].
        started: list[tuple[int, int, int, list[Any]]] = []
        turned: list[tuple[int, int, int, list[Any]]] = []
        latest: dict[str, int] = {}  # per station, this report's last read
        for (_, item), (station, indices) in self._visits(reads, stations).items():
            indices.sort(key=times.__getitem__)  # stable: reads at one time stay in report order
            self._take_visit(station, item, reads, times, indices, sides, started, turned)
            name, last = station.station, times[indices[-1]]
            if last > latest.get(name, 0):
                latest[name] = last
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
                reads=count,
                direction=way,
                **told,
            )
            for _, _, first, (st, last, count, item, way) in (*sorted(started), *sorted(turned))
        ]

    def _visits(
        self, reads: Sequence[ReadFields], stations: dict[int, Station]
    ) -> dict[tuple[str, str], tuple[Station, list[int]]]:
        """The station and the indices of the reads of each (station name, item), in report
        order. Reads are grouped by tag first, so each tag's item key is looked up once per
        report."""
        by_tag: dict[str, list[int]] = {}
        for i, read in enumerate(reads):
            tag = read[5] or read[0]  # a barcode's item key, or the tag's EPC
            indices = by_tag.get(tag)
            if indices is None:
                by_tag[tag] = [i]
            else:
                indices.append(i)
        keys = self.item_keys
        if len(keys) > ITEM_KEY_CACHE:
            keys.clear()
        one = next(iter(stations.values())) if len({s.station for s in stations.values()}) == 1 else None
        visits: dict[tuple[str, str], tuple[Station, list[int]]] = {}
        for indices in by_tag.values():
            epc, key = reads[indices[0]][0], reads[indices[0]][5]
            item = key or keys.get(epc)
            if item is None:
                item = keys[epc] = item_key(epc)
            # Tags that are one item (an EPC written in either case) share its visits.
            for station, of_station in self._by_station(reads, indices, stations, one):
                visit = (station.station, item)
                held = visits.get(visit)
                visits[visit] = (station, of_station if held is None else sorted(held[1] + of_station))
        return visits

    @staticmethod
    def _by_station(
        reads: Sequence[ReadFields], indices: list[int], stations: dict[int, Station], one: Station | None
    ) -> list[tuple[Station, list[int]]]:
        """A tag's read indices by station (all at ``one`` when the report's antennas are all
        of one station)."""
        if one is not None:
            return [(one, indices)]
        out: dict[str, tuple[Station, list[int]]] = {}
        for i in indices:
            station = stations[reads[i][1]]
            out.setdefault(station.station, (station, []))[1].append(i)
        return list(out.values())

    def _take_visit(
        self,
        station: Station,
        item: str,
        reads: Sequence[ReadFields],
        times: list[int],
        indices: list[int],
        sides: dict[int, str],
        started: list[tuple[int, int, int, list[Any]]],
        turned: list[tuple[int, int, int, list[Any]]],
    ) -> None:
        """One item's reads at one station, in time order, against its open pass: a read
        within the window of the open pass extends it, any other opens a new pass; a read on
        the other side of the portal than the pass's first tells its direction."""
        key = (station.station, item)
        window = self.window_us
        current = self.open.get(key)
        new: list[Any] | None = None  # the current pass, if this report opened it
        update: list[Any] | None = None  # the direction this report told of an earlier pass
        for i in indices:
            _, antenna, t, count, _, _, last = reads[i]
            seen_last = last if last > t else t
            if current is not None and current.first_us - window <= t <= current.last_us + window:
                if seen_last > current.last_us:
                    current.last_us = seen_last
                if new is not None:
                    if seen_last > new[1]:
                        new[1] = seen_last
                    new[2] += count
                elif update is not None and seen_last > update[1]:
                    update[1] = seen_last
                if current.side and (side := sides.get(antenna, "")) and side != current.side:
                    direction = DIRECTION[(current.side, side)]
                    current.side = ""
                    if new is not None:
                        new[4] = direction
                    else:
                        update = [station, current.last_us, 0, item, direction]
                        turned.append((t, i, current.first_us, update))
                continue
            current = self.open[key] = _Open(t, seen_last, sides.get(antenna, ""))
            new, update = [station, seen_last, count, item, ""], None
            started.append((t, i, t, new))

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
        station); returns how many.

        A sweep looks at every open pass, so it runs only once some station's horizon has
        moved a window past the last sweep's: a small batch (a line read slowly, or a worker
        keeping up) then pays for no sweep, and an open pass is forgotten between two and
        three windows after its last read. When it is forgotten changes no pass: a read it
        could still extend is within the window of its last, and a candidate opened again
        later is merged by stage 2 (streams/items.py)."""
        horizon = {name: t - 2 * self.window_us for name, t in self.station_us.items()}
        swept = self.swept_us
        if all(h < swept.get(name, h - self.window_us) + self.window_us for name, h in horizon.items()):
            return 0
        stale = [k for k, v in self.open.items() if v.last_us < horizon[k[0]]]
        for k in stale:
            del self.open[k]
        self.swept_us = horizon
        return len(stale)
