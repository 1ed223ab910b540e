"""The daemon under test across its lives: start, kill -9, crash points, restarts, draining.

A ``Rig`` is one site (tests/helpers.Site), the destinations the oracle will read, and the real
``picsync run`` subprocess, started as many times as the scenario kills it. It records every
life (when it started, how it ended) for the recovery figures, samples /proc throughout, and
waits for the queue to drain by reading the ledger directly (cheap enough to poll often).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import ROOT, Daemon, Site, picsync
from tests.reliability.ledger_view import LedgerView
from tests.reliability.manifest import Expect, Manifest
from tests.reliability.monitor import ProcMonitor
from tests.reliability.remotes import Remote


class DaemonProcess(Daemon):
    """tests.helpers.Daemon, optionally behind a command prefix (setpriv, faketime)."""

    def __init__(
        self, site: Site, env: dict[str, str] | None = None, prefix: Sequence[str] = ()
    ) -> None:
        super().__init__(site, env)
        self.prefix = list(prefix)
        self.log_offset = 0

    def start(self) -> DaemonProcess:
        # Where this life's lines begin in the shared log: an earlier life killed before it
        # said "running" must not make this one look started, or never started.
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [*self.prefix, sys.executable, "-m", "picsync", "run", "-c", str(self.site.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=ROOT,
            )
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


@dataclass
class Life:
    """One daemon process: when it started and how it ended (monotonic seconds)."""

    started_at: float
    cause: str  # why it was started: "first start", "after kill 3", "after prepare.committed"
    crashpoint: str | None = None  # started to die at this point (not a recovery to time)
    ended_at: float | None = None
    ending: str = ""  # "sigkill" | "crashpoint" | "stopped"


@dataclass
class Rig:
    site: Site
    remotes: list[Remote]
    env: dict[str, str] = field(default_factory=dict)
    prefix: Sequence[str] = ()
    lives: list[Life] = field(default_factory=list)
    drained_at: list[float] = field(default_factory=list)
    daemon: DaemonProcess | None = None

    def __post_init__(self) -> None:
        self.ledger = LedgerView(self.site.state)
        self.monitor = ProcMonitor(lambda: self.pid).start()
        self._all: list[DaemonProcess] = []

    # ---- lives ---------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        daemon = self.daemon
        return daemon.pid if daemon is not None and daemon.alive() else None

    def start(
        self,
        *,
        crashpoint: str | None = None,
        env: dict[str, str] | None = None,
        prefix: Sequence[str] | None = None,
        cause: str = "",
    ) -> DaemonProcess:
        assert self.daemon is None or not self.daemon.alive(), "the daemon already runs"
        extra = dict(env or {})
        if crashpoint is not None:
            extra["PICSYNC_TEST_CRASHPOINT"] = crashpoint
        daemon = DaemonProcess(
            self.site, {**self.env, **extra}, self.prefix if prefix is None else prefix
        )
        self.lives.append(Life(time.monotonic(), cause or self._next_cause(), crashpoint))
        self.daemon = daemon.start()
        self._all.append(daemon)
        return daemon

    def _next_cause(self) -> str:
        if not self.lives:
            return "first start"
        return f"after {self.lives[-1].ending or 'stop'}"

    def _ended(self, how: str) -> None:
        self.lives[-1].ended_at = time.monotonic()
        self.lives[-1].ending = how

    def kill(self) -> None:
        """SIGKILL now, as a power cut or ``kill -9`` would."""
        assert self.daemon is not None
        self.daemon.kill()
        self._ended("sigkill")

    def wait_crash(self, point: str, timeout: float = 120) -> None:
        """The daemon was started with a crash point: wait for it to SIGKILL itself there."""
        assert self.daemon is not None and self.daemon.proc is not None
        try:
            code = self.daemon.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"crash point {point} was never reached in {timeout} s\n{self.log_tail()}"
            ) from None
        assert code == -signal.SIGKILL, (
            f"expected SIGKILL at {point}, got {code}\n{self.log_tail()}"
        )
        self._ended(f"crashpoint {point}")

    def stop(self, timeout: float = 90) -> None:
        """SIGTERM: the daemon must finish its steps and exit 0."""
        assert self.daemon is not None
        self.wait_started(timeout)  # before that, SIGTERM would find no handler installed
        code = self.daemon.terminate(timeout=timeout)
        self._ended("stopped")
        assert code == 0, f"the daemon exited {code} on SIGTERM\n{self.log_tail()}"

    def signal(self, signum: int) -> None:
        assert self.daemon is not None and self.daemon.proc is not None
        self.daemon.proc.send_signal(signum)

    def close(self) -> None:
        """Teardown: nothing this rig started outlives the test."""
        for daemon in self._all:
            if daemon.proc is not None and daemon.proc.poll() is None:
                daemon.proc.send_signal(signal.SIGCONT)  # a stopped process cannot die otherwise
            daemon.stop_quietly()
        self.monitor.stop()

    def log(self) -> str:
        path = self.site.root / "daemon.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    # ---- waiting -------------------------------------------------------------------------

    def started(self) -> bool:
        """The current life logged "running" (its signal handlers are in place)."""
        daemon = self.daemon
        if daemon is None or not daemon.log_path.exists():
            return False
        with open(daemon.log_path, "rb") as log:
            log.seek(daemon.log_offset)
            return b'"event": "running"' in log.read()

    def wait_started(self, timeout: float = 60) -> None:
        self.wait(self.started, timeout, "the daemon to start")

    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``predicate``; fail early with the log if the daemon died on its own."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self._died_unexpectedly():
                raise AssertionError(
                    f"the daemon exited on its own while waiting for {what}\n{self.log_tail()}"
                )
            time.sleep(0.25)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.status()}")

    def _died_unexpectedly(self) -> bool:
        daemon = self.daemon
        if daemon is None or daemon.proc is None or daemon.proc.poll() is None:
            return False
        return not self.lives[-1].ending  # it ended, and not because the test ended it

    def settled(self, manifest: Manifest) -> bool:
        """Nothing busy in the ledger, and every dropped file that must end somewhere ended:
        its last version done, or the file quarantined."""
        if not self.ledger.exists() or not (self.site.state / "hash.key").exists():
            return False
        if self.ledger.busy():
            return False
        rows = self.ledger.files()
        by_key: dict[str, set[str]] = {}
        done: set[str] = set()
        for row in rows:
            by_key.setdefault(row.path_key, set()).add(row.state)
            if row.state == "done" and row.sha256:
                done.add(row.sha256)
        for dropped in manifest.rows():
            states: set[str] = set()
            for name in dropped.names():
                states |= by_key.get(self.ledger.key_of(name), set())
            # Ended, rightly or not: the oracle judges which (a good file quarantined fails).
            ended = dropped.final in done or "quarantined" in states
            if dropped.expect != Expect.VANISH and not ended:
                return False
        return True

    def wait_drained(self, manifest: Manifest, timeout: float, what: str = "the queue") -> float:
        """Wait until every dropped file reached its end; returns (and records) the time."""
        self.wait(lambda: self.settled(manifest), timeout, f"{what} to drain")
        now = time.monotonic()
        self.drained_at.append(now)
        return now

    def status(self) -> str:
        if not self.ledger.exists():
            return "no ledger yet"
        return (
            f"files {dict(self.ledger.file_counts())}, deliveries "
            f"{dict(self.ledger.delivery_counts())}, dead {self.ledger.dead_deliveries()[:3]}, "
            f"pauses {self.ledger.pauses()}\n{self.log_tail(15)}"
        )

    # ---- after the run -------------------------------------------------------------------

    def audit_verify(self) -> tuple[bool, str]:
        done = picsync("audit", "verify", "-c", str(self.site.config))
        return done.returncode == 0, (done.stdout + done.stderr).strip()

    def config_path(self) -> Path:
        return self.site.config
