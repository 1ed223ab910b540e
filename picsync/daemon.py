"""The composition root: configuration in, running parts out. Threads, signals, shutdown.

``run(config)`` builds every part by hand (no DI framework), recovers interrupted work, starts
the workers and the watcher, and blocks until SIGTERM or SIGINT. Stopping lets each worker finish
the step it is in; anything cut short is recovered at the next start.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass
from types import FrameType

import structlog

from picsync import log as logsetup
from picsync.audit import AuditLog
from picsync.config import Config
from picsync.destinations import Destination, DestinationContext, build_destination
from picsync.identity import compile_rule
from picsync.intake import Selection
from picsync.ledger import DestinationCache, Ledger
from picsync.metrics import Metrics
from picsync.parts import Doorbell, SourceRoute, WorkerParts
from picsync.policy import RetryPolicy
from picsync.spool import Spool
from picsync.stages import ScrubStage
from picsync.statedir import (
    DaemonLock,
    StateDir,
    load_or_create_hash_key,
    load_or_create_station_identity,
)
from picsync.watch import WatchedSource, Watcher
from picsync.worker import Worker

log = structlog.get_logger("picsync.daemon")

STOP_TIMEOUT_S = 30.0


@dataclass
class Running:
    """The started parts, for the supervising loop and for tests that run the daemon in-process."""

    watcher: Watcher
    workers: list[Worker]
    threads: list[threading.Thread]
    ledger: Ledger
    lock: DaemonLock
    stop: threading.Event
    metrics: Metrics


def build_destinations(config: Config, ledger: Ledger) -> dict[str, Destination]:
    return {
        name: build_destination(
            DestinationContext(
                name=name,
                settings=settings,
                secrets={k: v.get_secret_value() for k, v in config.secrets.get(name, {}).items()},
                cache=DestinationCache(ledger, name),
                station=config.settings.station,
            )
        )
        for name, settings in config.settings.destinations.items()
    }


def hash_key_for(config: Config, state: StateDir) -> bytes:
    if config.hash_key is not None:
        return config.hash_key.get_secret_value().encode()
    return load_or_create_hash_key(state)


def start(config: Config, stop: threading.Event) -> Running:
    """Build and start every part; raises LockedError if another daemon owns the state dir."""
    settings = config.settings
    state = StateDir(settings.state_dir)
    state.create()
    lock = DaemonLock(state)
    lock.acquire()
    try:
        ledger = Ledger(state.ledger)
        files, deliveries = ledger.recover()
        spool = Spool(state.spool)
        removed = spool.clean(ledger.live_spool_names())
        log.info(
            "starting",
            station=settings.station,
            key_epoch=config.key_epoch,
            recovered_files=files,
            recovered_deliveries=deliveries,
            spool_files_removed=removed,
        )
        hash_key = hash_key_for(config, state)
        for warning in config.warnings:
            log.warning(warning)
        plaintext = {name: d.encryption == "none" for name, d in settings.destinations.items()}
        for name, is_plain in plaintext.items():
            if is_plain:
                log.warning(
                    "destination receives plaintext (encryption: none)",
                    destination=name,
                    acknowledged=settings.destinations[name].plaintext_ack,
                )
        station = load_or_create_station_identity(state) if any(plaintext.values()) else None
        doorbell = Doorbell()
        audit = AuditLog(state.root)
        metrics = Metrics(ledger, state.spool)
        if settings.metrics.listen:
            port = metrics.serve(settings.metrics.listen)
            log.info("metrics endpoint", port=port)
        parts = WorkerParts(
            ledger=ledger,
            spool=spool,
            routes={
                name: SourceRoute(
                    root=src.path,
                    destinations=tuple(src.destinations),
                    requeue_delay=src.quiet_unclosed,
                    identity_rule=compile_rule(src.identity_pattern)
                    if src.identity_pattern
                    else None,
                    after_upload=src.after_upload,
                    archive_dir=src.archive_dir,
                    retention_days=src.retention_days,
                )
                for name, src in settings.sources.items()
            },
            destinations=build_destinations(config, ledger),
            templates={name: d.template for name, d in settings.destinations.items()},
            plaintext=plaintext,
            station=settings.station,
            transform=ScrubStage(),
            recipients=config.recipients,
            key_epoch=config.key_epoch,
            station_keys=(station.recipient,) if station else (),
            station_identities=(station,) if station else (),
            pseudonym_key=hash_key,
            retry=RetryPolicy(
                max_attempts=settings.retry.max_attempts,
                base_delay=settings.retry.base_delay,
                max_delay=settings.retry.max_delay,
                blocked_pause=settings.retry.blocked_pause,
            ),
            doorbell=doorbell,
            audit=audit,
            metrics=metrics,
        )
        watcher = Watcher(
            sources={
                name: WatchedSource(
                    name=name,
                    root=src.path,
                    mode=src.mode,
                    selection=Selection(src.include, src.exclude),
                    quiet_closed=src.settle,
                    quiet_unclosed=src.quiet_unclosed,
                    max_wait=src.max_wait,
                    scan_interval=src.poll_interval if src.mode == "poll" else src.rescan_interval,
                )
                for name, src in settings.sources.items()
            },
            ledger=ledger,
            hash_key=hash_key,
            audit=audit,
            on_found=doorbell.ring,
            stop=stop,
        )
        workers = [Worker(parts, stop) for _ in range(settings.workers)]
        threads = [
            threading.Thread(target=w.run, name=f"picsync-worker-{i}", daemon=True)
            for i, w in enumerate(workers)
        ]
        watcher.start()
        threads.append(threading.Thread(target=watcher.run, name="picsync-watch", daemon=True))
        for thread in threads:
            thread.start()
    except BaseException:
        lock.release()
        raise
    return Running(watcher, workers, threads, ledger, lock, stop, metrics)


def shutdown(running: Running, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop intake, let in-flight steps finish; True when every thread ended in time."""
    running.stop.set()
    deadline = time.monotonic() + timeout
    for thread in running.threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    running.watcher.close()
    running.metrics.close()
    clean = not any(t.is_alive() for t in running.threads)
    running.lock.release()
    log.info("stopped", clean=clean)
    return clean


def stop_on_signals() -> threading.Event:
    """SIGTERM and SIGINT set the returned event; installed before anything slow happens, so a
    stop request during start-up is honoured instead of killing the process mid-step."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("stop requested", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop


def run(config: Config, stop: threading.Event | None = None) -> int:
    """``picsync run``: start, wait for a stop signal, stop. Returns the exit code."""
    settings = config.settings
    logsetup.configure(
        settings.log.level,
        settings.log.format,
        roots=[src.path for src in settings.sources.values()],
    )
    stop = stop or stop_on_signals()
    running = start(config, stop)
    log.info("running", sources=len(settings.sources), destinations=len(settings.destinations))
    while not stop.wait(1.0):
        for thread in running.threads:
            if not thread.is_alive():
                log.error("a picsync thread ended unexpectedly; stopping", thread=thread.name)
                stop.set()
    return 0 if shutdown(running) else 1
