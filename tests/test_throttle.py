"""The byte-rate limiter and throttled reader: exact with a fake clock, and one real 20 MiB copy."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from picsync.schedule import parse_bandwidth
from picsync.throttle import BURST_SECONDS, MAX_NAP, RateLimiter, ThrottledReader

MIB = 1024 * 1024


class FakeClock:
    """Time that moves only when someone sleeps, by exactly as long as they asked."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.now += seconds


class ParallelFakeClock:
    """Fake time for threads that sleep side by side.

    A sleep moves time to the sleeper's wake-up (the time it last read plus its nap), not by the
    nap added to everyone else's, which is what real threads sleeping in parallel do.
    """

    def __init__(self) -> None:
        self._now = 0.0
        self._lock = threading.Lock()
        self._seen = threading.local()

    def __call__(self) -> float:
        with self._lock:
            self._seen.at = now = self._now
        # Hand the GIL over here, inside the limiter's critical section, so that a limiter that
        # forgot its lock would be caught handing out the same tokens twice.
        time.sleep(0)
        return now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._now = max(self._now, getattr(self._seen, "at", 0.0) + seconds)


def limiter_at(rate: float | None) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(lambda: rate, clock=clock, sleep=clock.sleep), clock


def test_a_quarter_second_passes_at_once_then_the_rate_holds() -> None:
    limiter, clock = limiter_at(1000.0)
    limiter.acquire(250)
    assert clock.now == 0.0
    limiter.acquire(100)
    assert clock.now == pytest.approx(0.1)
    limiter.acquire(650)
    assert clock.now == pytest.approx(0.75)


@pytest.mark.parametrize("rate", [3.0, 1000.0, 7_777.7, 1024.0 * 1024])
@pytest.mark.parametrize(
    "seconds",  # each read's size as seconds of traffic at the rate
    [[0.01] * 300, [0.25] * 40, [0.3] * 40, [0.003, 7.0, 0.0, 0.5, 2.5, 0.07, 0.0001]],
)
def test_bytes_never_outrun_rate_times_time_plus_a_quarter_second(
    rate: float, seconds: list[float]
) -> None:
    sizes = [max(1, round(rate * s)) if s else 0 for s in seconds]
    limiter, clock = limiter_at(rate)
    passed = 0
    for size in sizes:
        limiter.acquire(size)
        passed += size
        assert passed <= rate * (clock.now + BURST_SECONDS) * (1 + 1e-9)
    # And no slower than that either: the limiter waits exactly as long as it must.
    assert clock.now == pytest.approx(max(0.0, passed / rate - BURST_SECONDS), rel=1e-9, abs=1e-9)
    assert max(clock.sleeps, default=0.0) <= MAX_NAP


def test_an_idle_bucket_fills_to_a_quarter_second_and_no_more() -> None:
    limiter, clock = limiter_at(1000.0)
    limiter.acquire(1000)
    clock.now += 100.0  # a long pause between files
    limiter.acquire(250)
    assert clock.now == pytest.approx(100.75)
    limiter.acquire(250)
    assert clock.now == pytest.approx(101.0)


def test_a_request_larger_than_the_bucket_naps_and_rereads_the_rate() -> None:
    clock = FakeClock()
    # The timetable switches to 'off' two seconds in: a large read must not sleep through that.
    limiter = RateLimiter(lambda: 1000.0 if clock.now < 2.0 else None, clock, clock.sleep)
    limiter.acquire(100_000)
    assert clock.now == 2.0
    assert all(nap <= MAX_NAP for nap in clock.sleeps)
    limiter.acquire(10**12)  # unlimited: passes at once
    assert clock.now == 2.0


def test_back_from_unlimited_the_bucket_starts_full() -> None:
    rate: list[float | None] = [None]
    clock = FakeClock()
    limiter = RateLimiter(lambda: rate[0], clock, clock.sleep)
    limiter.acquire(50 * MIB)
    rate[0] = 1000.0
    limiter.acquire(250)
    assert clock.now == 0.0
    limiter.acquire(500)
    assert clock.now == pytest.approx(0.5)


def test_a_bandwidth_timetable_drives_the_rate() -> None:
    # 1 KiB/s until 01:00 UTC, then 4 KiB/s; the clock starts one minute before the change.
    bandwidth = parse_bandwidth("00:00,1K 01:00,4K", UTC)
    start = datetime(2024, 6, 10, 0, 59, tzinfo=UTC)
    clock = FakeClock()
    limiter = RateLimiter(
        lambda: bandwidth.rate_at(start + timedelta(seconds=clock.now)), clock, clock.sleep
    )
    total = 100 * 1024
    for _ in range(total // 512):
        limiter.acquire(512)
    # 256 bytes of burst, 60 s at 1 KiB/s, the rest at 4 KiB/s; a nap straddling the change
    # may be counted at the new rate, so allow one nap's worth.
    expected = 60 + (total - 256 - 60 * 1024) / 4096
    assert abs(clock.now - expected) <= MAX_NAP


def test_zero_bytes_and_bad_input() -> None:
    limiter, clock = limiter_at(1000.0)
    limiter.acquire(0)
    with pytest.raises(ValueError, match="negative"):
        limiter.acquire(-1)
    for bad in (0.0, -5.0, float("nan")):
        with pytest.raises(ValueError, match="positive"):
            RateLimiter(lambda bad=bad: bad, clock, clock.sleep).acquire(1)  # type: ignore[misc]
    assert clock.now == 0.0


def test_uploads_in_parallel_share_one_limit() -> None:
    clock = ParallelFakeClock()
    rate = 100_000.0
    limiter = RateLimiter(lambda: rate, clock, clock.sleep)
    lock = threading.Lock()
    passed = [0]
    violations: list[tuple[int, float]] = []
    sizes = [[(i * 7919 + t * 104_729) % 20_000 + 1 for i in range(150)] for t in range(8)]

    def upload(chunks: list[int]) -> None:
        for size in chunks:
            limiter.acquire(size)
            with lock:
                passed[0] += size
                now = clock()
                if passed[0] > rate * (now + BURST_SECONDS) * (1 + 1e-9):
                    violations.append((passed[0], now))

    threads = [threading.Thread(target=upload, args=(chunks,)) for chunks in sizes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    total = sum(map(sum, sizes))
    assert passed[0] == total
    assert violations == []
    ideal = total / rate - BURST_SECONDS
    assert ideal <= clock() <= ideal * 1.05 + MAX_NAP  # shared, not each at the full rate


def test_throttled_reader_returns_the_bytes_at_the_rate() -> None:
    data = os.urandom(10_000)
    limiter, clock = limiter_at(1000.0)
    copy = io.BytesIO()
    shutil.copyfileobj(ThrottledReader(io.BytesIO(data), limiter), copy, 100)
    assert copy.getvalue() == data
    assert clock.now == pytest.approx(9.75)


def test_readinto_and_buffered_readers_are_throttled_too() -> None:
    data = os.urandom(10_000)
    limiter, clock = limiter_at(1000.0)
    buffered = io.BufferedReader(ThrottledReader(io.BytesIO(data), limiter), buffer_size=512)
    assert buffered.read() == data
    assert clock.now == pytest.approx(9.75)


class ReadOnly:
    """A stream with nothing but read(), like some SDK response bodies."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)


def test_readinto_works_over_a_stream_without_it() -> None:
    limiter, clock = limiter_at(1000.0)
    reader = ThrottledReader(ReadOnly(b"x" * 1250), limiter)  # type: ignore[arg-type]
    buffer = bytearray(1000)
    assert reader.readinto(buffer) == 1000 and buffer == b"x" * 1000
    assert reader.readinto(buffer) == 250 and buffer[:250] == b"x" * 250
    assert reader.readinto(buffer) == 0
    assert clock.now == pytest.approx(1.0)


def test_read_all_seek_tell_and_close_leave_the_stream_to_its_owner() -> None:
    data = os.urandom(50_000)
    limiter, clock = limiter_at(10_000.0)
    stream = io.BytesIO(data)
    reader = ThrottledReader(stream, limiter)
    assert reader.readable() and reader.seekable()
    assert reader.read(None) == data
    assert reader.read() == b""
    assert all(nap <= MAX_NAP for nap in clock.sleeps)
    assert clock.now == pytest.approx(4.75)
    assert reader.tell() == 50_000
    assert reader.seek(0, io.SEEK_END) == 50_000  # how an HTTP client sizes a body
    assert reader.seek(10) == 10 and reader.read(5) == data[10:15]  # and rewinds it for a retry
    reader.close()
    assert not stream.closed
    with pytest.raises(ValueError, match="closed"):
        reader.read(1)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_a_real_20_mib_copy_at_1_mib_per_second_holds_within_10_percent(tmp_path: Path) -> None:
    # The done-when: the only test here that measures wall-clock time (about 20 s).
    source, target = tmp_path / "sealed.age", tmp_path / "copy.age"
    source.write_bytes(os.urandom(20 * MIB))
    limiter = RateLimiter(lambda: float(MIB))
    started = time.monotonic()
    with open(source, "rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(ThrottledReader(src, limiter), dst, 64 * 1024)
    elapsed = time.monotonic() - started
    measured = 20 * MIB / elapsed
    assert 0.9 * MIB <= measured <= 1.1 * MIB, f"{measured / MIB:.3f} MiB/s in {elapsed:.1f} s"
    assert sha256(target) == sha256(source)
