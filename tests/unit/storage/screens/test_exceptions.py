"""Skipped stages split by their chance of being only a missed read, with their portals."""

from __future__ import annotations

from typing import Any

from storage.screens.exceptions import Portal, split_violations


def _v(pass_id: str, p: float | None, missing: tuple[str, ...] = ("machine",)) -> dict[str, Any]:
    return {"pass_id": pass_id, "missing": list(missing), "p_missed_read": p}


def test_skips_missed_reads_and_unscored_gaps_are_apart_surest_first() -> None:
    rows = [_v("a", 0.5), _v("b", 0.02), _v("c", None), _v("d", 0.97), _v("e", 0.3), _v("f", None, ())]
    rates = [{"stage": "machine", "observed": 40, "read": 30, "read_rate": 0.75}]
    split = split_violations(rows, rates, [("MACH-1", "machine"), ("MACH-2", "machine")])
    assert [r["pass_id"] for r in split.skipped] == ["b", "e"]
    assert [r["pass_id"] for r in split.missed] == ["d", "a"]  # 0.5: even odds count as a missed read
    assert [r["pass_id"] for r in split.unscored] == ["c"]
    assert [r["pass_id"] for r in split.other] == ["f"]
    assert split.missed[0]["portals"] == [Portal("machine", ("MACH-1", "MACH-2"), 0.75)]
