"""The retry policy: which statuses are retried and how long to wait between attempts."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from cellar.upstream.retry import RetryPolicy, retry_after_seconds

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 -- reproducible jitter, not cryptography


def test_defaults() -> None:
    policy = RetryPolicy()
    assert (policy.retries, policy.backoff, policy.max_backoff) == (3, 0.5, 30.0)
    assert policy.attempts == 4


def test_exponential_backoff_without_jitter() -> None:
    policy = RetryPolicy(backoff=0.5, max_backoff=3.0, jitter=0)
    assert [policy.delay(n, None, NOW) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_stays_within_its_fraction_and_is_reproducible() -> None:
    policy = RetryPolicy(backoff=1.0, max_backoff=100.0, jitter=0.25)
    delays = [policy.delay(3, None, NOW, rng=seeded(seed)) for seed in range(200)]
    assert all(3.0 <= delay <= 5.0 for delay in delays)
    assert len(set(delays)) > 100
    assert policy.delay(3, None, NOW, rng=seeded(7)) == policy.delay(3, None, NOW, rng=seeded(7))


def test_jitter_never_exceeds_max_backoff() -> None:
    policy = RetryPolicy(backoff=10.0, max_backoff=10.0, jitter=0.5)
    assert all(policy.delay(1, None, NOW, rng=seeded(s)) <= 10.0 for s in range(50))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("0", 0.0),
        ("7", 7.0),
        (" 12 ", 12.0),
        ("120", 30.0),  # capped at max_backoff
        ((NOW + timedelta(seconds=9)).strftime("%a, %d %b %Y %H:%M:%S GMT"), 9.0),
        ((NOW - timedelta(minutes=5)).strftime("%a, %d %b %Y %H:%M:%S GMT"), 0.0),
        ("soon", 0.5),  # unreadable: ordinary backoff
        ("-3", 0.5),
        ("1.5", 0.5),
    ],
)
def test_retry_after_is_honoured(header: str, expected: float) -> None:
    assert RetryPolicy(jitter=0).delay(1, header, NOW) == expected


def test_retry_after_with_naive_times_is_utc() -> None:
    naive_now = NOW.replace(tzinfo=None)
    assert retry_after_seconds("Sat, 01 Mar 2025 12:00:04 -0000", naive_now) == 4.0


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 507, 520, 599])
def test_retryable_statuses(status: int) -> None:
    assert RetryPolicy().is_retryable_status(status)


@pytest.mark.parametrize(
    "status", [200, 301, 400, 401, 403, 404, 410, 416, 451, 501, 505, 506, 508, 510, 511]
)
def test_final_statuses(status: int) -> None:
    assert not RetryPolicy().is_retryable_status(status)


@pytest.mark.parametrize(
    "kwargs", [{"retries": -1}, {"backoff": -0.1}, {"max_backoff": -1.0}, {"jitter": 1.5}]
)
def test_invalid_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
