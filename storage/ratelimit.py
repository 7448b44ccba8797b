"""Requests per token: a token bucket per caller (``take`` is pure; ``RateLimiter`` keeps the
buckets for the API's request threads)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Bucket:
    tokens: float  # requests that may be made now
    at: float  # when ``tokens`` was counted (monotonic seconds)


def take(bucket: Bucket | None, now: float, rate_per_s: float, burst: float) -> tuple[Bucket, float]:
    """One request from the bucket: (the bucket after, 0.0) when it may go ahead, else (the
    bucket, seconds until it may). A new caller starts with a full bucket of ``burst``."""
    tokens = burst if bucket is None else min(burst, bucket.tokens + (now - bucket.at) * rate_per_s)
    if tokens >= 1.0:
        return Bucket(tokens - 1.0, now), 0.0
    return Bucket(tokens, now), (1.0 - tokens) / rate_per_s


def retry_after(wait_s: float) -> int:
    """The Retry-After value (whole seconds, at least 1) for a wait."""
    return max(1, math.ceil(wait_s))


class RateLimiter:
    """Buckets by caller name; ``rate_per_s <= 0`` lets everything through."""

    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate_per_s, self.burst, self.clock = rate_per_s, max(1, burst), clock
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    def admit(self, caller: str) -> float:
        """0.0 if the caller may go ahead now, else the seconds to wait."""
        if self.rate_per_s <= 0:
            return 0.0
        with self._lock:
            bucket, wait = take(self._buckets.get(caller), self.clock(), self.rate_per_s, self.burst)
            self._buckets[caller] = bucket
        return wait
