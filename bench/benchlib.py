"""Shared helpers for the benchmarks in bench/ (not a benchmark itself, not a test).

Medians, the machine's load, peak RSS of a child, a temporary clinic with the real daemon as a
subprocess (like tests/helpers.py's Site and Daemon), and waiting on its ledger and audit log.
Every benchmark prints the load average before and after it runs: the machine is shared, so a
figure taken under load says so.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from picsync.crypto import Identity, generate_identity  # noqa: E402

MIB = 1024 * 1024
GIB = 1024 * MIB


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p50 = median of an odd count; p95 of 100 values = the 95th)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine() -> str:
    """One line about this machine: CPUs, model, memory, Python (no paths, no host name)."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    return (
        f"{os.cpu_count()} CPUs ({model}), {mem_gib:.0f} GiB RAM, Python {sys.version.split()[0]}"
    )


def header(title: str) -> None:
    print(f"# {title}")
    print(f"# machine: {machine()}")
    print(f"# load average at start: {loadavg()}", flush=True)


def footer() -> None:
    print(f"# load average at end: {loadavg()}", flush=True)


def vm_hwm_mib(pid: int) -> float:
    """Peak resident set size of a live process (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status")


def self_hwm_mib() -> float:
    return vm_hwm_mib(os.getpid())


def reset_hwm(pid: int | None = None) -> bool:
    """Reset a process's VmHWM to its current RSS (Linux >= 4.0: write 5 to clear_refs)."""
    try:
        Path(f"/proc/{pid or os.getpid()}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.02
) -> float:
    """Poll until ``predicate`` holds; returns the monotonic time it was first seen true."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------------------- a clinic


@dataclass
class Clinic:
    """A temporary clinic: inbox, state, config; destinations given by the benchmark."""

    root: Path
    identity: Identity = field(default_factory=generate_identity)

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def config(self) -> Path:
        return self.root / "picsync.yaml"

    @property
    def ledger_path(self) -> Path:
        return self.state / "ledger.sqlite3"

    @property
    def audit_path(self) -> Path:
        return self.state / "audit.jsonl"

    def write_config(
        self,
        destinations: dict[str, Any],
        *,
        source: dict[str, Any] | None = None,
        region: str = "onprem",
        **settings: Any,
    ) -> None:
        self.inbox.mkdir(parents=True, exist_ok=True)
        camera = {"path": "inbox", "destinations": list(destinations), **(source or {})}
        config: dict[str, Any] = {
            "station": "bench-station",
            "state_dir": "state",
            "residency": {"allowed_regions": [region]},
            "sources": {"camera": camera},
            "keys": {"recipients": [self.identity.recipient.to_string()]},
            "destinations": destinations,
            "log": {"level": "warning", "format": "json"},
            "metrics": {"listen": None},
            **settings,
        }
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))

    def done_files(self) -> int:
        """Files whose every delivery is verified (state delivered, or done after disposal)."""
        return self._count("SELECT COUNT(*) FROM files WHERE state IN ('delivered', 'done')")

    def known_files(self) -> int:
        return self._count("SELECT COUNT(*) FROM files")

    def file_states(self) -> dict[str, int]:
        if not self.ledger_path.exists():
            return {}
        with _readonly(self.ledger_path) as conn:
            return dict(conn.execute("SELECT state, COUNT(*) FROM files GROUP BY state"))

    def _count(self, sql: str) -> int:
        if not self.ledger_path.exists():
            return 0
        try:
            with _readonly(self.ledger_path) as conn:
                return int(conn.execute(sql).fetchone()[0])
        except sqlite3.OperationalError:  # the daemon is creating the schema
            return 0

    def audit_records(self, event: str | None = None) -> list[dict[str, Any]]:
        if not self.audit_path.exists():
            return []
        records = []
        with open(self.audit_path, "rb") as log:
            for raw in log:
                record = json.loads(raw)
                if event is None or record.get("event") == event:
                    records.append(record)
        return records


class _readonly:  # noqa: N801 - a context manager used like a function
    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


class Daemon:
    """``python -m picsync run -c FILE`` as a subprocess; stderr/stdout to a log in the clinic."""

    def __init__(self, clinic: Clinic, env: dict[str, str] | None = None) -> None:
        self.clinic = clinic
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.log_path = clinic.root / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Daemon:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "picsync", "run", "-c", str(self.clinic.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.clinic.root,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            raise RuntimeError(f"the daemon exited; its log:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 60) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def __enter__(self) -> Daemon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for_ready(daemon: Daemon, timeout: float = 60) -> None:
    """Until the daemon has created its ledger and audit log (it is watching then)."""

    def ready() -> bool:
        daemon.check_alive()
        return daemon.clinic.ledger_path.exists() and daemon.clinic.audit_path.exists()

    wait_until(ready, timeout, "the daemon to start")


@dataclass
class Sampler:
    """Samples a process's VmHWM while a benchmark waits (the last value is the peak)."""

    pid: int
    peak: float = 0.0

    def sample(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):  # the process just ended
            self.peak = max(self.peak, vm_hwm_mib(self.pid))


def poll(
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    daemon: Daemon | None = None,
    interval: float = 0.05,
    sampler: Sampler | None = None,
) -> float:
    """Like ``wait_until`` but also checks that the daemon is alive and samples its RSS."""

    def check() -> bool:
        if daemon is not None:
            daemon.check_alive()
        if sampler is not None:
            sampler.sample()
        return predicate()

    return wait_until(check, timeout, what, interval)
