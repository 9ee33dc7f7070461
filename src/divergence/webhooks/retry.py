"""What happens after an attempt: delivered, another try (when), or given up. Pure.

The schedule is the delay before each attempt (``webhooks.retry_schedule_s``, by default
Svix's: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h). After attempt ``n``
fails, attempt ``n + 1`` waits ``schedule[n] * (1 + u)`` with ``u`` uniform in
``[-jitter, jitter]``, so a fleet of failing messages does not retry in lockstep. A
``Retry-After`` answer (429, 503) lengthens that delay, up to the schedule's longest
step. After the last attempt fails the message is given up (``failed``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from divergence.clock import NS_PER_SECOND

Outcome = Literal["delivered", "retry", "failed"]


@dataclass(frozen=True)
class AttemptResult:
    """What one HTTP attempt produced."""

    status: int | None
    latency_ms: float
    error: str | None
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        return self.status == 410


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    next_attempt_ns: int


def decide(
    result: AttemptResult,
    *,
    attempts_before: int,
    schedule: Sequence[float],
    jitter: float,
    rng: random.Random,
    now_ns: int,
) -> Decision:
    """The message's next state after attempt number ``attempts_before + 1``."""
    if result.ok:
        return Decision("delivered", now_ns)
    done = attempts_before + 1
    if done >= len(schedule):
        return Decision("failed", now_ns)
    delay = schedule[done] * (1 + rng.uniform(-jitter, jitter)) if jitter else schedule[done]
    if result.retry_after_s is not None:
        delay = max(delay, min(result.retry_after_s, max(schedule)))
    return Decision("retry", now_ns + round(delay * NS_PER_SECOND))


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the delta-seconds form; HTTP dates are ignored)."""
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())
