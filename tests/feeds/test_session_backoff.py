"""Reconnect backoff: exponential, capped, jittered, never zero."""

from __future__ import annotations

import random

from divergence.feeds.session import backoff_delay


def test_session_backoff_grows_then_caps() -> None:
    rng = random.Random(1)
    for attempt, ceiling in ((0, 0.25), (1, 0.5), (2, 1.0), (3, 2.0), (7, 30.0), (500, 30.0)):
        delays = [backoff_delay(attempt, initial=0.25, maximum=30.0, rng=rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempt, min(delays), max(delays))
        assert max(delays) - min(delays) > ceiling / 4  # jittered, not constant


def test_session_backoff_jitter_differs_between_feeds() -> None:
    one, two = random.Random(1), random.Random(2)
    a = [backoff_delay(3, initial=0.25, maximum=30.0, rng=one) for _ in range(5)]
    b = [backoff_delay(3, initial=0.25, maximum=30.0, rng=two) for _ in range(5)]
    assert all(x != y for x, y in zip(a, b, strict=True))
