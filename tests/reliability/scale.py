"""How big each scenario runs: SHORT by default (CI; the whole directory takes ~8.5 minutes
in one process on 2 cores, less spread over the suite's test processes) and LONG on request
(``pytest tests/reliability --long`` or PICSYNC_RELIABILITY=long), which scales file counts,
kill counts and durations up to specs/reliability.md §3."""

from __future__ import annotations

import os
from dataclasses import dataclass

from tests.reliability.generate import KB, MB

ENV = "PICSYNC_RELIABILITY"


@dataclass(frozen=True, slots=True)
class Scale:
    mode: str  # "short" | "long"
    burst_files: int  # R1
    burst_low: int
    burst_high: int
    burst_big_share: float  # share of files between burst_high and burst_big_high
    burst_big_high: int
    soak_files: int  # R3
    soak_kills: int
    outage_files: int  # R9
    outage_s: float
    stop_burst_files: int  # R12 (SIGSTOP during the burst)
    catchup_files: int  # R13, each half
    fault_files: int  # R8, per emulator
    crash_files: int  # R2, files dropped before each crash point
    timeout: float  # the longest any single wait may take

    @property
    def long(self) -> bool:
        return self.mode == "long"


SHORT = Scale(
    mode="short",
    burst_files=1000,
    burst_low=20 * KB,
    burst_high=2 * MB,
    burst_big_share=0.0,
    burst_big_high=2 * MB,
    soak_files=300,
    soak_kills=10,
    outage_files=200,
    outage_s=12.0,
    stop_burst_files=2000,
    catchup_files=300,
    fault_files=24,
    crash_files=3,
    timeout=300.0,
)

# R1's 10,000 files span 20 KB-20 MB: log-uniform up to 2 MB, and 2 % of them between 2 and
# 20 MB, so that a run stays within a CI machine's disk (the inbox, spool and outbox hold
# every byte; about 7 GB in all) while still exercising multi-megabyte files at volume.
LONG = Scale(
    mode="long",
    burst_files=10_000,
    burst_low=20 * KB,
    burst_high=2 * MB,
    burst_big_share=0.02,
    burst_big_high=20 * MB,
    soak_files=2000,
    soak_kills=100,
    outage_files=1000,
    outage_s=300.0,
    stop_burst_files=10_000,
    catchup_files=1000,
    fault_files=120,
    crash_files=10,
    timeout=3600.0,
)


def current(long_flag: bool) -> Scale:
    return LONG if long_flag or os.environ.get(ENV, "").lower() == "long" else SHORT
