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
    UnansweredError,
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
    return _equal_jitter(min(policy.max_delay, policy.base_delay * float(2**exponent)), rand)


def _equal_jitter(delay: float, rand: Callable[[], float]) -> float:
    return delay / 2 + rand() * delay / 2


def decide(
    error: PicsyncError,
    attempts_before: int,
    now: float,
    policy: RetryPolicy,
    rand: Callable[[], float] = random.random,
    silent_since: float | None = None,
) -> Decision:
    """What to do with a delivery (or a file being prepared) that failed with ``error``.

    ``silent_since``: for an ``UnansweredError``, since when the destination has not been
    heard from (its last delivery), if known.
    """
    reason = str(error) or type(error).__name__
    if isinstance(error, UnansweredError):
        silence = 0.0 if silent_since is None else max(0.0, now - silent_since)
        wait = silence_backoff(silence, policy, rand)
        return Retry(not_before=now + wait, reason=reason, counted=False)
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


def silence_backoff(
    silence: float, policy: RetryPolicy, rand: Callable[[], float] = random.random
) -> float:
    """The wait after a failure with no answer, when the destination has been silent for
    ``silence`` seconds: at least that long again (capped), so each try at least doubles the
    silence and an outage is probed no more often than exponential back-off would, without
    counting attempts. Equal jitter as in ``backoff``."""
    return _equal_jitter(min(policy.max_delay, max(policy.base_delay, 2 * silence)), rand)


def wait_horizon(policy: RetryPolicy) -> float:
    """The longest wait picsync itself ever stores for a retry or a pause. A stored wait further
    ahead than this from now means the clock stepped back: it is brought to now + this."""
    return max(policy.max_delay, policy.blocked_pause)
