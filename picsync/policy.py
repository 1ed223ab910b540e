"""Pure: how long to wait before trying again, and when to stop trying.

Two retry levels each have one authority (DESIGN.md): per call, tenacity waits seconds in memory
(``destinations/_retry.py``); per delivery, this module decides the durable ``not_before``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from picsync.errors import (
    BlockedError,
    PermanentError,
    PicsyncError,
    SourceError,
    TransientError,
)
from picsync.model import Bury, Decision, Pause, Retry

# A blocked destination (token revoked, disk full) is tried again after this long; the attempt
# is not counted, so the queue waits for a person instead of burying deliveries.
BLOCKED_PAUSE_S = 300.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    base_delay: float
    max_delay: float
    blocked_pause: float = BLOCKED_PAUSE_S


def backoff(attempts: int, policy: RetryPolicy, rand: Callable[[], float] = random.random) -> float:
    """Exponential delay after ``attempts`` failures, capped, with "equal jitter".

    Half the delay is fixed and half random, so retries of a burst spread out without ever
    coming back sooner than half the schedule.
    """
    exponent = min(attempts, 62)
    delay = min(policy.max_delay, policy.base_delay * float(2**exponent))
    return delay / 2 + rand() * delay / 2


def decide(
    error: PicsyncError,
    attempts_before: int,
    now: float,
    policy: RetryPolicy,
    rand: Callable[[], float] = random.random,
) -> Decision:
    """What to do with a delivery (or a file being prepared) that failed with ``error``."""
    reason = str(error) or type(error).__name__
    if isinstance(error, BlockedError):
        return Pause(until=now + policy.blocked_pause, reason=reason)
    if isinstance(error, PermanentError):
        return Bury(reason=reason)
    if isinstance(error, SourceError) and not error.retryable:
        return Bury(reason=reason)
    attempts = attempts_before + 1
    if attempts >= policy.max_attempts:
        return Bury(reason=f"gave up after {attempts} attempts: {reason}")
    wait = backoff(attempts - 1, policy, rand)
    if isinstance(error, TransientError) and error.retry_after is not None:
        wait = max(wait, min(error.retry_after, policy.max_delay))
    return Retry(not_before=now + wait, reason=reason)


def clamp_wait(not_before: float, now: float, policy: RetryPolicy) -> float:
    """A stored wait no later than one full backoff from now: the clock may have gone back."""
    return min(not_before, now + policy.max_delay)
