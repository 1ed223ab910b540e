"""Pure retry decisions: table-tested."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from picsync.errors import (
    BlockedError,
    IntegrityError,
    PermanentError,
    RefusedError,
    SourceError,
    TransientError,
    UnansweredError,
)
from picsync.model import Bury, Pause, Retry
from picsync.policy import BLOCKED_PAUSE_S, RetryPolicy, backoff, decide, wait_horizon

POLICY = RetryPolicy(max_attempts=5, base_delay=10.0, max_delay=300.0)


@pytest.mark.parametrize(
    ("attempts", "low", "high"),
    [
        (0, 5.0, 10.0),
        (1, 10.0, 20.0),
        (2, 20.0, 40.0),
        (4, 80.0, 160.0),
        (5, 150.0, 300.0),
        (60, 150.0, 300.0),
    ],
)
def test_backoff_doubles_with_jitter_and_a_cap(attempts: int, low: float, high: float) -> None:
    assert backoff(attempts, POLICY, rand=lambda: 0.0) == low
    assert backoff(attempts, POLICY, rand=lambda: 1.0) == high


@given(st.integers(min_value=0, max_value=10_000), st.floats(min_value=0, max_value=1))
def test_backoff_never_exceeds_the_cap(attempts: int, r: float) -> None:
    assert 0 < backoff(attempts, POLICY, rand=lambda: r) <= POLICY.max_delay


def test_transient_error_is_retried_later() -> None:
    decision = decide(TransientError("503"), 0, now=1000.0, policy=POLICY, rand=lambda: 0.0)
    assert decision == Retry(not_before=1005.0, reason="503")


def test_retry_after_is_honoured_when_longer_than_backoff() -> None:
    error = TransientError("429", retry_after=120.0)
    decision = decide(error, 0, now=1000.0, policy=POLICY, rand=lambda: 0.0)
    assert isinstance(decision, Retry) and decision.not_before == 1120.0


def test_retry_after_is_capped() -> None:
    error = TransientError("429", retry_after=10_000.0)
    decision = decide(error, 0, now=0.0, policy=POLICY, rand=lambda: 0.0)
    assert isinstance(decision, Retry) and decision.not_before == POLICY.max_delay


def test_attempts_run_out() -> None:
    decision = decide(IntegrityError("mismatch"), 4, now=0.0, policy=POLICY)
    assert decision == Bury(reason="gave up after 5 attempts: mismatch")


def test_permanent_error_is_buried_at_once() -> None:
    assert decide(PermanentError("malformed path"), 0, 0.0, POLICY) == Bury("malformed path")


def test_blocked_pauses_the_destination() -> None:
    decision = decide(BlockedError("token revoked"), 3, now=50.0, policy=POLICY)
    assert decision == Pause(until=50.0 + BLOCKED_PAUSE_S, reason="token revoked")


def test_source_errors() -> None:
    assert isinstance(decide(SourceError("Permission denied"), 0, 0.0, POLICY), Retry)
    assert decide(RefusedError("GIF"), 0, 0.0, POLICY) == Bury("GIF")


def test_the_wait_horizon_is_the_longest_stored_wait() -> None:
    assert wait_horizon(POLICY) == BLOCKED_PAUSE_S  # 300 s, as long as max_delay here
    longer = RetryPolicy(max_attempts=5, base_delay=10.0, max_delay=7200.0, blocked_pause=60.0)
    assert wait_horizon(longer) == 7200.0


def test_no_answer_never_buries_and_backs_off_with_the_silence() -> None:
    error = UnansweredError("the connection to Dropbox failed (ConnectionError)")
    # Far past max_attempts: a network that is down is not the delivery's fault.
    first = decide(error, 500, now=1000.0, policy=POLICY, rand=lambda: 1.0, silent_since=995.0)
    assert first == Retry(not_before=1010.0, reason=str(error), counted=False)  # base_delay
    later = decide(error, 500, now=1000.0, policy=POLICY, rand=lambda: 0.0, silent_since=880.0)
    assert later == Retry(not_before=1120.0, reason=str(error), counted=False)  # as long again
    capped = decide(error, 0, now=1e6, policy=POLICY, rand=lambda: 0.0, silent_since=0.0)
    assert isinstance(capped, Retry) and capped.not_before == 1e6 + 150.0  # half of max_delay
    unknown = decide(error, 0, now=50.0, policy=POLICY, rand=lambda: 1.0)
    assert isinstance(unknown, Retry) and unknown.not_before == 60.0


def test_an_answered_transient_error_still_counts() -> None:
    decision = decide(TransientError("HTTP 503"), 0, now=0.0, policy=POLICY)
    assert isinstance(decision, Retry) and decision.counted
    assert isinstance(decide(TransientError("HTTP 503"), 4, 0.0, POLICY), Bury)
