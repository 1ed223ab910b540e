"""Per-call retries: a few quick tries in memory, honouring the server's Retry-After.

The per-delivery level (``policy.decide`` with the ledger's ``not_before``) handles anything
longer; a Retry-After beyond ``max_wait`` is not slept here but handed up to it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from picsync.errors import TransientError

T = TypeVar("T")


def call_with_retry(
    fn: Callable[[], T],
    *,
    attempts: int = 3,
    max_wait: float = 30.0,
    initial: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn``, retrying ``TransientError`` up to ``attempts`` times in all."""
    backoff = wait_exponential_jitter(multiplier=initial, max=max_wait, jitter=initial)

    def should_retry(exc: BaseException) -> bool:
        if not isinstance(exc, TransientError):
            return False
        return exc.retry_after is None or exc.retry_after <= max_wait

    def wait(state: RetryCallState) -> float:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            return exc.retry_after
        return float(backoff(state))

    retrying = Retrying(
        retry=retry_if_exception(should_retry),
        stop=stop_after_attempt(attempts),
        wait=wait,
        sleep=sleep,
        reraise=True,
    )
    return retrying(fn)
