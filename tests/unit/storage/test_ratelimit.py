from __future__ import annotations

import pytest

from storage.ratelimit import Bucket, RateLimiter, retry_after, take


def test_a_new_caller_may_make_a_burst_at_once() -> None:
    bucket = None
    for _ in range(5):
        bucket, wait = take(bucket, 100.0, rate_per_s=2.0, burst=5)
        assert wait == 0.0
    assert bucket == Bucket(0.0, 100.0)


def test_past_the_burst_the_caller_waits_for_the_next_token() -> None:
    bucket, wait = take(Bucket(0.0, 100.0), 100.0, rate_per_s=2.0, burst=5)

    assert wait == pytest.approx(0.5)
    assert bucket == Bucket(0.0, 100.0)  # a refused request costs nothing


def test_tokens_come_back_at_the_rate_up_to_the_burst() -> None:
    bucket, wait = take(Bucket(0.0, 100.0), 100.75, rate_per_s=2.0, burst=5)
    assert wait == 0.0 and bucket.tokens == pytest.approx(0.5)

    bucket, wait = take(bucket, 101.0, rate_per_s=2.0, burst=5)
    assert wait == 0.0 and bucket.tokens == pytest.approx(0.0)

    bucket, _ = take(Bucket(0.0, 100.0), 1_000.0, rate_per_s=2.0, burst=5)
    assert bucket.tokens == pytest.approx(4.0)  # full (5), less this request


@pytest.mark.parametrize(
    ("wait", "header"),
    [
        pytest.param(0.01, 1, id="a moment: one second"),
        pytest.param(1.0, 1, id="one second"),
        pytest.param(1.2, 2, id="rounded up"),
    ],
)
def test_retry_after_is_whole_seconds_never_early(wait: float, header: int) -> None:
    assert retry_after(wait) == header


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_each_caller_has_its_own_bucket() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_s=1.0, burst=2, clock=clock)

    assert [limiter.admit("a") for _ in range(3)] == [0.0, 0.0, pytest.approx(1.0)]
    assert limiter.admit("b") == 0.0
    clock.now = 1.0
    assert limiter.admit("a") == 0.0
    assert limiter.admit("a") == pytest.approx(1.0)


def test_a_rate_of_zero_is_no_limit() -> None:
    limiter = RateLimiter(rate_per_s=0.0, burst=1, clock=Clock())

    assert all(limiter.admit("a") == 0.0 for _ in range(1_000))
