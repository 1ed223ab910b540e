"""Samples the daemon's resident memory, open file descriptors and threads from /proc.

Once a second, from a background thread, of whichever process is the daemon *now* (the pid
changes across kills and restarts). A process that just died is skipped, not an error.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Sample:
    pid: int
    rss_kib: int
    fds: int
    threads: int


def sample(pid: int) -> Sample | None:
    """One reading of ``pid``, or None when it is gone (or a zombie without memory)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss = fields.get("VmRSS")
    if rss is None:
        return None
    return Sample(pid, int(rss.split()[0]), fds, int(fields["Threads"].strip()))


class ProcMonitor:
    """``with ProcMonitor(lambda: rig.pid):`` samples every ``interval`` seconds."""

    def __init__(self, pid_of: Callable[[], int | None], interval: float = 1.0) -> None:
        self._pid_of = pid_of
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="proc-monitor", daemon=True)
        self.samples: list[Sample] = []

    def start(self) -> ProcMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def __enter__(self) -> ProcMonitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while True:
            pid = self._pid_of()
            if pid is not None:
                found = sample(pid)
                if found is not None:
                    self.samples.append(found)
            if self._stop.wait(self._interval):
                return

    @property
    def max_rss_mib(self) -> float:
        return max((s.rss_kib for s in self.samples), default=0) / 1024

    @property
    def max_fds(self) -> int:
        return max((s.fds for s in self.samples), default=0)

    @property
    def max_threads(self) -> int:
        return max((s.threads for s in self.samples), default=0)
