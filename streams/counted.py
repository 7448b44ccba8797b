"""Where an item is counted in the rollups stage 2 writes beside its rows (streams/wipcounts.py,
streams/jobcounts.py): its place, the minute of its last read, its job and its status, as its
last item row said. Each item state keeps the one it is counted under (``ItemState.counted``),
so a new row moves the item from the old one to the new one."""

from __future__ import annotations

import time
from typing import Final

from ingest.records.rows import ItemStateRow

MINUTE_US = 60_000_000

Counted = tuple[str, str, str, int, str, str]  # site, line, stage, minute of the last read (us), job, status

# Read from a record that did not say (written before the rollups): worked out again on load.
UNKNOWN: Final[Counted] = ("", "", "", -1, "", "")


def counted_of(row: ItemStateRow) -> Counted:
    last = row["last_seen"]
    return row["site"], row["line"], row["stage"], last - last % MINUTE_US, row["job"], row["status"]


def wall_clock_us() -> int:
    """A rollup row's revision: later than any row of the same key written before, by this
    worker or by the one that had the partition before it (see streams/wipcounts.py)."""
    return time.time_ns() // 1000
