"""The daemon's lifecycle: lock, recover, run a generation of parts, supervise, reload, stop.

``run`` holds the state directory's lock for its whole life. SIGTERM and SIGINT stop intake and
let every worker finish the step it is in (a step ends at a chunk boundary); anything cut short
is recovered at the next start. SIGHUP reloads the configuration: a bad new configuration is
rejected with a log line and the old one keeps running. The systemd watchdog is pinged only
while the watcher and every worker are alive and making progress.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import structlog

from picsync import log as logsetup
from picsync.alerts import Alerter
from picsync.audit import AuditLog
from picsync.config import Config, load_config
from picsync.errors import ConfigError
from picsync.health import check_conditions
from picsync.ledger import Ledger
from picsync.policy import wait_horizon
from picsync.sdnotify import Notifier
from picsync.selfcheck import low_space_problem, network_filesystem_problem
from picsync.spool import Spool
from picsync.statedir import DaemonLock, StateDir
from picsync.wiring import Generation, Shared, alerter_for, build, retry_policy

log = structlog.get_logger("picsync.daemon")

STOP_TIMEOUT_S = 60.0  # below systemd's TimeoutStopSec, so we stop cleanly before a SIGKILL
WATCHER_STALL_AFTER_S = 120.0
CLOCK_STEP_S = 60.0  # a backward step of the wall clock at least this big clamps stored waits


class Signals:
    """Stop and reload requests, set from signal handlers installed before anything slow."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.reload = threading.Event()
        self.stop_signal: str | None = None  # logged by the main loop, not by the handler

    def install(self) -> Signals:
        # A handler runs between two bytecodes of the main thread, perhaps while that thread
        # holds the log writer's (non-reentrant) lock: so the handlers only set flags, and
        # never log, or a SIGTERM in the middle of a log line would deadlock the daemon.
        def on_stop(signum: int, frame: FrameType | None) -> None:
            self.stop_signal = signal.Signals(signum).name
            self.stop.set()

        def on_reload(signum: int, frame: FrameType | None) -> None:
            self.reload.set()

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_reload)
        return self


class ClockWatch:
    """Notices the wall clock stepping back (NTP, a VM snapshot), by the wall clock moving
    against the monotonic one. Stored waits are wall-clock times: after such a step, each
    would last as long again as the step."""

    def __init__(
        self,
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wall, self._mono = wall, mono
        self._offset = wall() - mono()

    def stepped_back(self) -> float:
        """Seconds the wall clock went back since the last call (0.0 for small drift)."""
        offset = self._wall() - self._mono()
        step, self._offset = self._offset - offset, offset
        return step if step >= CLOCK_STEP_S else 0.0


def clamp_waits(shared: Shared, config: Config) -> None:
    changed = shared.ledger.clamp_waits(time.time(), wait_horizon(retry_policy(config)))
    if changed:
        log.warning("stored waits were beyond the longest wait: clamped", rows=changed)


def open_shared(config: Config, lock: DaemonLock) -> Shared:
    state = StateDir(config.settings.state_dir)
    ledger = Ledger(state.ledger)
    files, deliveries = ledger.recover()
    spool = Spool(state.spool)
    removed = spool.clean(ledger.live_spool_names())
    log.info(
        "starting",
        station=config.settings.station,
        key_epoch=config.key_epoch,
        recovered_files=files,
        recovered_deliveries=deliveries,
        spool_files_removed=removed,
    )
    return Shared(state=state, ledger=ledger, spool=spool, audit=AuditLog(state.root))


def start_generation(generation: Generation) -> list[threading.Thread]:
    listen = generation.config.settings.metrics.listen
    if listen:
        log.info("metrics endpoint", port=generation.metrics.serve(listen))
    threads = [
        threading.Thread(target=w.run, name=f"picsync-{w.name}", daemon=True)
        for w in generation.workers
    ]
    generation.watcher.start()  # the observer runs before the catch-up scan
    threads.append(
        threading.Thread(target=generation.watcher.run, name="picsync-watch", daemon=True)
    )
    for thread in threads:
        thread.start()
    return threads


def stop_generation(
    generation: Generation, threads: list[threading.Thread], timeout: float = STOP_TIMEOUT_S
) -> bool:
    """Stop intake, let in-flight steps finish; True when every thread ended in time."""
    generation.stop.set()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    generation.watcher.close()
    generation.metrics.close()
    return not any(t.is_alive() for t in threads)


def healthy(generation: Generation, threads: list[threading.Thread]) -> str | None:
    """None when every part is alive and moving, else what is wrong (for the log)."""
    for thread in threads:
        if not thread.is_alive():
            return f"thread {thread.name} ended"
    if time.monotonic() - generation.watcher.last_loop > WATCHER_STALL_AFTER_S:
        return "the watcher stopped making progress"
    stall_after = generation.config.settings.health.stall_after
    for worker in generation.workers:
        if worker.beat.age() > stall_after:
            return f"{worker.name} made no progress for {worker.beat.age():.0f} s"
    return None


def run(config: Config, signals: Signals | None = None) -> int:
    """``picsync run``: start, supervise until a stop signal, stop. Returns the exit code."""
    settings = config.settings
    logsetup.configure(
        settings.log.level, settings.log.format, roots=[s.path for s in settings.sources.values()]
    )
    signals = signals or Signals().install()
    notifier = Notifier()
    state = StateDir(settings.state_dir)
    state.create()
    problem = network_filesystem_problem(state.root, _mountinfo())
    if problem:
        raise ConfigError(f"state_dir: {problem}")
    low = low_space_problem(state.root)
    if low:
        log.warning(low)
    lock = DaemonLock(state)
    lock.acquire()
    alerter = alerter_for(config)
    try:
        shared = open_shared(config, lock)
        clamp_waits(shared, config)  # the clock may have stepped back while we were down
        clock = ClockWatch()
        generation = build(config, shared)
        threads = start_generation(generation)
        log.info("running", sources=len(settings.sources), destinations=len(settings.destinations))
        notifier.ready()
        interval = min(1.0, (notifier.watchdog_interval() or 2.0) / 2)
        next_check = 0.0
        while not signals.stop.wait(interval):
            if signals.reload.is_set():
                signals.reload.clear()
                generation, threads = reload(generation, threads, shared, notifier)
            step = clock.stepped_back()
            if step:
                log.warning("the wall clock stepped back", seconds=round(step))
                clamp_waits(shared, generation.config)
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + generation.config.settings.health.check_interval
                _check_conditions(alerter, generation, shared)
            problem = healthy(generation, threads)
            if problem is None:
                notifier.watchdog()
            else:
                # No ping: systemd's watchdog restarts us; without systemd the problem is logged.
                log.error("unhealthy; not pinging the watchdog", problem=problem)
        log.info("stop requested", signal=signals.stop_signal)
        notifier.stopping()
        clean = stop_generation(generation, threads)
        alerter.close(5.0)
        log.info("stopped", clean=clean)
        return 0 if clean else 1
    finally:
        lock.release()


def _check_conditions(alerter: Alerter, generation: Generation, shared: Shared) -> None:
    settings = generation.config.settings
    try:
        check_conditions(
            alerter,
            shared.ledger,
            time.time(),
            settings.destinations,
            settings.sources,
            shared.spool.folder,
            settings.alerts.backlog_after,
            settings.alerts.spool_min_free,
            generation.polling_fallback,
        )
    except Exception:
        log.exception("checking alert conditions failed")


def _mountinfo() -> str:
    try:
        return Path("/proc/self/mountinfo").read_text()
    except OSError:
        return ""


def reload(
    generation: Generation, threads: list[threading.Thread], shared: Shared, notifier: Notifier
) -> tuple[Generation, list[threading.Thread]]:
    """Swap in a new configuration, or keep the running one if the new one is bad."""
    path = generation.config.path
    try:
        config = load_config(path)
        if config.settings.state_dir.resolve() != shared.state.root.resolve():
            raise ConfigError("state_dir cannot change on reload; restart picsync instead")
        fresh = build(config, shared)
    except ConfigError as exc:
        log.error("configuration reload rejected; the running one stays", problems=exc.problems)
        return generation, threads
    notifier.reloading()
    stop_generation(generation, threads)
    settings = config.settings
    logsetup.configure(
        settings.log.level, settings.log.format, roots=[s.path for s in settings.sources.values()]
    )
    new_threads = start_generation(fresh)
    notifier.ready()
    log.info("configuration reloaded", sources=len(config.settings.sources))
    return fresh, new_threads
