"""The exceptions screen's figures: open violations split by what probably happened. A skipped
stage whose ``p_missed_read`` is at least ``MISSED_READ_P`` was probably only missed by its
portal; below, probably a skipped operation; with no p, its line has too few passes to tell.
Each skipped stage names the portals (the stations of the missing stages) and their read
rates, which is what explains a missed read. Pure functions over the answers; no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# At even odds or better that the item went through unread, the gap is a missed read: the
# board should not send someone to look for a skipped operation on a coin toss.
MISSED_READ_P = 0.5


@dataclass(frozen=True)
class Portal:
    stage: str
    stations: tuple[str, ...]
    read_rate: float | None  # None: not measured yet


@dataclass
class Violations:
    skipped: list[dict[str, Any]] = field(default_factory=list)  # probably a skipped operation
    missed: list[dict[str, Any]] = field(default_factory=list)  # probably a missed read
    unscored: list[dict[str, Any]] = field(default_factory=list)  # p is null: too few passes
    other: list[dict[str, Any]] = field(default_factory=list)  # not a skipped stage


def split_violations(
    violations: Iterable[Mapping[str, Any]],
    read_rates: Iterable[Mapping[str, Any]],
    stations: Sequence[tuple[str, str]],
    threshold: float = MISSED_READ_P,
) -> Violations:
    """Open violations by what probably happened; each skipped stage carries ``portals``, the
    portals of its missing stages. ``stations``: (station, stage) of the line's plant; surest
    first: skips by p rising, missed reads by p falling."""
    rates = {r["stage"]: float(r["read_rate"]) for r in read_rates if int(r["observed"]) > 0}
    by_stage: dict[str, list[str]] = {}
    for station, stage in stations:
        by_stage.setdefault(stage, []).append(station)
    out = Violations()
    for v in violations:
        row = dict(v)
        if not row.get("missing"):
            out.other.append(row)
            continue
        row["portals"] = [Portal(s, tuple(by_stage.get(s, ())), rates.get(s)) for s in row["missing"]]
        p = row.get("p_missed_read")
        if p is None:
            out.unscored.append(row)
        elif p >= threshold:
            out.missed.append(row)
        else:
            out.skipped.append(row)
    out.skipped.sort(key=lambda r: r["p_missed_read"])
    out.missed.sort(key=lambda r: -r["p_missed_read"])
    return out
