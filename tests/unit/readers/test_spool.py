"""The reader's on-disk spool: order, bounds, acknowledgement, restart and crash recovery."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from readers.spool import Spool, SpoolError, SpoolRecord, frame

MiB = 1024 * 1024


def _fill(spool: Spool, n: int, start: int = 0) -> list[SpoolRecord]:
    records = [
        SpoolRecord("t.reads", f"R{i % 3}".encode(), f"report-{i}".encode()) for i in range(start, start + n)
    ]
    for r in records:
        assert spool.append(r.topic, r.key, r.value)
    return records


def _segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


def test_records_come_back_in_order_and_leave_only_when_committed(tmp_path: Path) -> None:
    with Spool(tmp_path, MiB) as spool:
        records = _fill(spool, 10)
        spool.append("t.dead-letter", None, b"no key")
        assert spool.peek(4) == records[:4]
        assert spool.peek(4) == records[:4], "peek again without commit: the same records"
        spool.commit(3)
        assert spool.records == 8
        assert spool.peek(100) == [*records[3:], SpoolRecord("t.dead-letter", None, b"no key")]
        spool.commit(8)
        assert (spool.records, spool.peek(10)) == (0, [])


def test_commit_cannot_go_past_what_was_peeked(tmp_path: Path) -> None:
    with Spool(tmp_path, MiB) as spool:
        _fill(spool, 5)
        spool.peek(2)
        with pytest.raises(ValueError):
            spool.commit(3)


def test_a_full_spool_refuses_and_takes_records_again_once_drained(tmp_path: Path) -> None:
    size = len(frame("t.reads", b"R0", b"report-0"))
    with Spool(tmp_path, max_bytes=size * 4) as spool:
        _fill(spool, 4)
        assert spool.bytes_used == size * 4
        assert not spool.append("t.reads", b"R0", b"report-4")
        assert spool.records == 4
        spool.peek(4)
        spool.commit(4)
        assert spool.append("t.reads", b"R0", b"report-4")


def test_a_record_larger_than_the_whole_spool_is_an_error_not_full(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=5000) as spool, pytest.raises(SpoolError):
        spool.append("t.reads", b"R0", b"x" * 6000)


def test_reopening_keeps_the_records_not_yet_committed(tmp_path: Path) -> None:
    with Spool(tmp_path, MiB) as spool:
        records = _fill(spool, 6)
        spool.peek(2)
        spool.commit(2)
    with Spool(tmp_path, MiB) as spool:
        assert spool.records == 4
        assert spool.peek(10) == records[2:]
        more = _fill(spool, 2, start=6)
        assert spool.peek(10) == records[2:] + more


def test_a_torn_tail_record_is_dropped_and_the_rest_kept(tmp_path: Path) -> None:
    with Spool(tmp_path, MiB) as spool:
        records = _fill(spool, 3)
    [segment] = _segments(tmp_path)
    whole = segment.stat().st_size
    with open(segment, "ab") as f:  # a crash in the middle of writing the fourth record
        f.write(frame("t.reads", b"R0", b"report-3")[:-4])
    with Spool(tmp_path, MiB) as spool:
        assert spool.records == 3
        assert segment.stat().st_size == whole
        assert spool.peek(10) == records
        assert spool.append("t.reads", b"R0", b"report-3")
        assert spool.peek(10)[-1] == SpoolRecord("t.reads", b"R0", b"report-3")


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[:-1] + bytes([data[-1] ^ 0xFF]), id="flipped byte in the last record"),
        pytest.param(lambda data: data + b"\0" * 64, id="zeros after the last record"),
    ],
)
def test_a_damaged_tail_is_dropped_from_the_tail_only(tmp_path: Path, damage: object) -> None:
    with Spool(tmp_path, MiB) as spool:
        records = _fill(spool, 3)
    [segment] = _segments(tmp_path)
    segment.write_bytes(damage(segment.read_bytes()))  # type: ignore[operator]
    with Spool(tmp_path, MiB) as spool:
        kept = spool.peek(10)
    assert kept == records[: len(kept)] and len(kept) >= 2


def test_damage_before_the_last_segment_is_an_error(tmp_path: Path) -> None:
    with Spool(tmp_path, MiB, segment_bytes=100) as spool:
        _fill(spool, 6)
    first = _segments(tmp_path)[0]
    data = first.read_bytes()
    first.write_bytes(data[:10] + bytes([data[10] ^ 0xFF]) + data[11:])
    with pytest.raises(SpoolError, match="damaged"):
        Spool(tmp_path, MiB, segment_bytes=100)
    first.write_bytes(data)  # the operator puts a good copy back: the spool opens again
    with Spool(tmp_path, MiB, segment_bytes=100) as spool:
        assert spool.records == 6


def test_segments_roll_and_leave_the_disk_once_committed(tmp_path: Path) -> None:
    size = len(frame("t.reads", b"R0", b"report-0"))
    with Spool(tmp_path, MiB, segment_bytes=size * 3) as spool:
        records = _fill(spool, 10)
        assert len(_segments(tmp_path)) == 4
        assert spool.peek(7) == records[:7]
        spool.commit(7)
        assert len(_segments(tmp_path)) == 2, "segments whose records were all sent are deleted"
        assert spool.bytes_used == size * 4
        assert spool.peek(10) == records[7:]
    with Spool(tmp_path, MiB, segment_bytes=size * 3) as spool:
        assert spool.peek(10) == records[7:]
        spool.commit(3)
        assert (spool.records, len(_segments(tmp_path))) == (0, 1)


def test_a_lost_cursor_sends_again_rather_than_skips(tmp_path: Path) -> None:
    with Spool(tmp_path, MiB) as spool:
        records = _fill(spool, 4)
        spool.peek(2)
        spool.commit(2)
    (tmp_path / "cursor").write_bytes(b"\1" * 20)
    with Spool(tmp_path, MiB) as spool:
        assert spool.peek(10) == records


def test_one_process_per_spool_directory(tmp_path: Path) -> None:
    with Spool(tmp_path, MiB), pytest.raises(SpoolError, match="in use"):
        Spool(tmp_path, MiB)


CHILD = """
import sys
import subprocess
import sys
import time
from pathlib import Path
from readers.spool import Spool
spool = Spool(Path(sys.argv[1]), 64 * 1024 * 1024, segment_bytes=16 * 1024)
n = 0
while True:
    spool.append("t.reads", b"R0", b"report-%d" % n)
    n += 1
"""


def test_a_killed_writer_leaves_every_record_it_appended_in_order(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], cwd=Path(__file__).parents[3])
    try:
        deadline = time.monotonic() + 20
        while sum(p.stat().st_size for p in _segments(tmp_path)) < 100_000 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        child.kill()  # SIGKILL: no close, no sync
        child.wait()
    with Spool(tmp_path, 64 * 1024 * 1024, segment_bytes=16 * 1024) as spool:
        values = [r.value for r in spool.peek(spool.records)]
    assert len(values) > 1000 and len(_segments(tmp_path)) > 2
    assert values == [b"report-%d" % i for i in range(len(values))]
