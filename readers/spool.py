"""The reader's on-disk spool: an append-only, bounded, crash-safe queue of Kafka records.

Records (topic, key, value) are appended to segment files (``<seq>.seg``), each framed as
``length, CRC32, payload``; the payload holds the topic, the key and the value. A reader of
the spool ``peek``s the oldest records and ``commit``s them once the broker has acknowledged
them: only then do they leave the spool, so a record is sent at least once and in order.

Durability: every append is one ``write`` to the file (nothing waits in a process buffer, so
a process crash loses nothing appended); a segment is fsynced when it is full and the next
one starts, and on ``sync()``. After a power loss the tail may hold a torn record: reopening
drops it (from the tail only, with a log line). The committed position lives in ``cursor``
(one small in-place write per commit, with its own CRC). It only ever moves forward and is
written before a segment is deleted, so losing it can only send records again (harmless:
report and pass ids are deterministic), never skip one.

Space: a segment leaves the disk once every record in it is committed, so ``bytes_used``
(what ``max_bytes`` bounds) includes at most one segment of records already sent.

One process owns a spool directory at a time (an exclusive lock on ``lock``).
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import LinetraceError

log = logging.getLogger(__name__)

# Record frame: payload length and CRC32 of the payload.
_FRAME = struct.Struct(">II")
# Payload head: topic length and key length (NO_KEY for a record without a key).
_HEAD = struct.Struct(">HI")
_NO_KEY = 0xFFFFFFFF
# Cursor: segment number, byte offset in it, CRC32 of both.
_CURSOR = struct.Struct(">QQI")
# A segment is rolled past this size, so acknowledged records leave the disk a segment at a
# time while a backlog drains; an eighth of the bound keeps the unreclaimed head small.
MAX_SEGMENT_BYTES = 16 * 1024 * 1024
MIN_SEGMENT_BYTES = 4096


class SpoolError(LinetraceError):
    """The spool cannot be used: locked by another process, damaged, or a record too large."""


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    topic: str
    key: bytes | None
    value: bytes


def frame(topic: str, key: bytes | None, value: bytes) -> bytes:
    """One record as it is written to a segment."""
    t = topic.encode()
    payload = _HEAD.pack(len(t), _NO_KEY if key is None else len(key)) + t + (key or b"") + value
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def unframe(payload: bytes) -> SpoolRecord:
    topic_len, key_len = _HEAD.unpack_from(payload)
    at = _HEAD.size + topic_len
    topic = payload[_HEAD.size : at].decode()
    if key_len == _NO_KEY:
        return SpoolRecord(topic, None, payload[at:])
    return SpoolRecord(topic, payload[at : at + key_len], payload[at + key_len :])


def scan(data: bytes) -> tuple[list[int], int]:
    """Record end offsets of a segment's bytes, and where the valid records end."""
    ends: list[int] = []
    pos = 0
    while pos + _FRAME.size <= len(data):
        length, crc = _FRAME.unpack_from(data, pos)
        start, end = pos + _FRAME.size, pos + _FRAME.size + length
        if length < _HEAD.size or end > len(data) or zlib.crc32(data[start:end]) != crc:
            break
        ends.append(end)
        pos = end
    return ends, pos


class Spool:
    """A bounded FIFO of records on disk. Thread-safe; one process per directory.

    ``append`` returns False when the record does not fit under ``max_bytes`` (the caller
    holds its producers back); ``peek(n)`` returns the oldest records not yet committed, and
    ``commit(count)`` removes the first ``count`` of the last peek.
    """

    def __init__(self, directory: Path, max_bytes: int, segment_bytes: int | None = None):
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or max(MIN_SEGMENT_BYTES, min(MAX_SEGMENT_BYTES, max_bytes // 8))
        self._lock = threading.Lock()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(self._lock_fd)
            raise SpoolError(f"spool {self.directory} is in use by another process") from exc
        self._cursor_fd = os.open(self.directory / "cursor", os.O_RDWR | os.O_CREAT, 0o644)
        # Segment number -> size in bytes, oldest first; the last one takes appends.
        self._sizes: dict[int, int] = {}
        self._head = (0, 0)  # committed position: segment number, offset
        self._records = 0
        self._peeked: list[tuple[int, int]] = []  # (segment, end offset) of each peeked record
        try:
            self._open_existing()
        except BaseException:
            os.close(self._cursor_fd)
            os.close(self._lock_fd)
            raise
        self._active = max(self._sizes) if self._sizes else self._head[0]
        self._sizes.setdefault(self._active, 0)
        self._fd = os.open(self._path(self._active), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    # -- opening --------------------------------------------------------------------------

    def _path(self, seq: int) -> Path:
        return self.directory / f"{seq:016d}.seg"

    def _open_existing(self) -> None:
        segments = sorted(int(p.stem) for p in self.directory.glob("*.seg") if p.stem.isdigit())
        head_seq, head_off = self._read_cursor(segments)
        for seq in segments:
            if seq < head_seq:  # committed before a crash, not yet deleted
                self._path(seq).unlink()
                continue
            data = self._path(seq).read_bytes()
            ends, valid = scan(data)
            if valid < len(data):
                self._drop_torn_tail(seq, valid, len(data), last=seq == segments[-1])
            self._sizes[seq] = valid
            if seq == head_seq:
                head_off = max([0, *[e for e in ends if e <= head_off]])
                self._records += sum(1 for e in ends if e > head_off)
            else:
                self._records += len(ends)
        self._head = (head_seq, head_off)
        if self._records:
            log.info(
                "spool %s holds %d records (%d bytes) to send", self.directory, self._records, self.bytes_used
            )

    def _read_cursor(self, segments: list[int]) -> tuple[int, int]:
        raw = os.pread(self._cursor_fd, _CURSOR.size, 0)
        first = segments[0] if segments else 0
        if len(raw) < _CURSOR.size:
            return first, 0
        seq, offset, crc = _CURSOR.unpack(raw)
        if zlib.crc32(raw[:16]) != crc:
            log.warning("spool %s: cursor unreadable; sending again from the oldest record", self.directory)
            return first, 0
        if segments and seq < first:
            return first, 0
        return seq, offset

    def _drop_torn_tail(self, seq: int, valid: int, size: int, last: bool) -> None:
        path = self._path(seq)
        if not last:
            raise SpoolError(
                f"spool segment {path} is damaged at byte {valid} of {size} and is not the last one; "
                "move it aside to start without its records"
            )
        log.warning(
            "spool %s: dropping a torn record at the tail (%d bytes at %d)", path, size - valid, valid
        )
        os.truncate(path, valid)

    # -- use ------------------------------------------------------------------------------

    @property
    def bytes_used(self) -> int:
        """Bytes of the spool's segments on disk: what ``max_bytes`` bounds."""
        return sum(self._sizes.values())

    @property
    def records(self) -> int:
        """Records appended and not yet committed."""
        return self._records

    def append(self, topic: str, key: bytes | None, value: bytes) -> bool:
        """Add a record at the tail; False if it does not fit (the spool is full)."""
        data = frame(topic, key, value)
        if len(data) > self.max_bytes:
            raise SpoolError(f"a record of {len(data)} bytes can never fit a spool of {self.max_bytes}")
        with self._lock:
            if self.bytes_used + len(data) > self.max_bytes:
                if self._records:
                    return False
                self._reclaim()  # all of it is sent: only records already committed take the space
            if self._sizes[self._active] and self._sizes[self._active] + len(data) > self.segment_bytes:
                self._roll()
            written = os.write(self._fd, data)
            if written != len(data):  # a short write to a regular file means the disk is full
                os.ftruncate(self._fd, self._sizes[self._active])
                raise SpoolError(f"spool {self.directory}: short write ({written} of {len(data)} bytes)")
            self._sizes[self._active] += len(data)
            self._records += 1
            return True

    def _roll(self) -> None:
        os.fsync(self._fd)
        os.close(self._fd)
        self._active += 1
        self._sizes[self._active] = 0
        self._fd = os.open(self._path(self._active), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._sync_directory()

    def _reclaim(self) -> None:
        self._roll()
        self._forget_before(self._active, 0)

    def _forget_before(self, seq: int, offset: int) -> None:
        """Move the committed position to (seq, offset) and delete the segments before it."""
        self._write_cursor(seq, offset)
        for old in [s for s in self._sizes if s < seq]:
            del self._sizes[old]
            self._path(old).unlink(missing_ok=True)
        self._head = (seq, offset)

    def peek(self, n: int) -> list[SpoolRecord]:
        """The oldest ``n`` records not yet committed (fewer if the spool holds fewer)."""
        with self._lock:
            out: list[SpoolRecord] = []
            self._peeked = []
            seq, offset = self._head
            while len(out) < n and seq in self._sizes:
                size = self._sizes[seq]
                with open(self._path(seq), "rb") as f:
                    f.seek(offset)
                    while len(out) < n and offset < size:
                        length, _ = _FRAME.unpack(f.read(_FRAME.size))
                        out.append(unframe(f.read(length)))
                        offset += _FRAME.size + length
                        self._peeked.append((seq, offset))
                seq, offset = seq + 1, 0
            return out

    def commit(self, count: int) -> None:
        """Remove the first ``count`` records of the last ``peek`` (the broker has them)."""
        if count <= 0:
            return
        with self._lock:
            if count > len(self._peeked):
                raise ValueError(f"cannot commit {count} records, {len(self._peeked)} were peeked")
            seq, offset = self._peeked[count - 1]
            self._peeked = self._peeked[count:]
            self._records -= count
            if seq < self._active and offset == self._sizes[seq]:
                seq, offset = seq + 1, 0  # that segment is all sent: let it go now
            self._forget_before(seq, offset)

    def _write_cursor(self, seq: int, offset: int) -> None:
        body = struct.pack(">QQ", seq, offset)
        os.pwrite(self._cursor_fd, body + struct.pack(">I", zlib.crc32(body)), 0)

    def sync(self) -> None:
        """Make every appended record and the committed position durable."""
        with self._lock:
            os.fsync(self._fd)
            os.fsync(self._cursor_fd)
            self._sync_directory()

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._fd < 0:
            return
        self.sync()
        for fd in (self._fd, self._cursor_fd, self._lock_fd):
            os.close(fd)  # closing the lock file releases the lock
        self._fd = -1

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
