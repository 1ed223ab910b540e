"""Workers: the loop that claims work from the ledger and hands it to prepare or deliver.

Preparing comes first, so that files are scrubbed and sealed at once even while uploads wait
(for a window, or for a destination to come back).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from picsync import heartbeat
from picsync.deliverer import deliver
from picsync.disposer import dispose
from picsync.heartbeat import Beat
from picsync.model import DeliveryJob, PrepareJob
from picsync.parts import WorkerParts
from picsync.preparer import prepare

log = structlog.get_logger("picsync.worker")

IDLE_WAIT_S = 1.0
RELEASE_DELAY_S = 60.0


class Worker:
    def __init__(self, parts: WorkerParts, stop: threading.Event, name: str = "worker") -> None:
        self.parts = parts
        self.stop = stop
        self.name = name
        self.beat = Beat(name)  # read by the daemon's health check
        # Hand-backs that failed (the ledger could not be written, e.g. its disk was full): the
        # rows stay claimed, so they are retried here before any new work is taken.
        self._unreleased: list[Callable[[], None]] = []

    def run(self) -> None:
        heartbeat.register(self.beat)
        bell = self.parts.doorbell
        seen = bell.rings
        while not self.stop.is_set():
            self.beat.touch()
            try:
                busy = self.step()
            except Exception:
                # E.g. the ledger's disk is full: the due work is still due, so without a pause
                # this would spin (and log a traceback) as fast as the ledger can fail.
                log.exception("worker step failed")
                self.stop.wait(IDLE_WAIT_S)
                continue
            if not busy:
                seen = bell.wait(seen, self._idle_timeout())

    def _idle_timeout(self) -> float:
        """Until the next due work, the next window opening (so queued uploads start when
        it opens, not up to a poll later), or the idle poll, whichever comes first."""
        parts = self.parts
        now = parts.clock()
        due = parts.ledger.next_due(parts.routes.keys(), parts.open_destinations(now))
        opening = parts.next_opening(now)
        wake = min((t for t in (due, opening) if t is not None), default=None)
        if wake is None:
            return IDLE_WAIT_S
        return max(0.01, min(IDLE_WAIT_S, wake - now))

    def step(self) -> bool:
        """Do one unit of work; False when there was nothing due."""
        while self._unreleased:
            self._unreleased[0]()  # raises while the ledger still cannot be written
            self._unreleased.pop(0)
        parts = self.parts
        now = parts.clock()
        job = parts.ledger.claim_prepare(now, parts.routes.keys())
        if job is not None:
            self._guarded(lambda: prepare(parts, job), lambda: self._release_prepare(job))
            return True
        delivery = parts.ledger.claim_delivery(now, parts.open_destinations(now))
        if delivery is not None:
            self._guarded(
                lambda: deliver(parts, delivery), lambda: self._release_delivery(delivery)
            )
            return True
        disposal = parts.ledger.claim_disposal(now, parts.routes.keys())
        if disposal is not None:
            self._guarded(
                lambda: dispose(parts, disposal),
                lambda: parts.ledger.postpone_disposal(
                    disposal.file_id, parts.clock() + RELEASE_DELAY_S, "internal error"
                ),
            )
            return True
        return False

    def _guarded(self, work: Callable[[], None], release: Callable[[], None]) -> None:
        """A bug must not strand a claimed row until the next restart: hand it back, and if
        even that fails, keep trying to (``step``)."""
        try:
            work()
        except Exception:
            log.exception("unexpected error; the job goes back to the queue")
            try:
                release()
            except Exception:
                self._unreleased.append(release)
                raise

    def _release_prepare(self, job: PrepareJob) -> None:
        self.parts.ledger.retry_prepare(
            job.file_id, self.parts.clock() + RELEASE_DELAY_S, "internal error"
        )

    def _release_delivery(self, job: DeliveryJob) -> None:
        self.parts.ledger.retry_delivery(
            job.delivery_id, self.parts.clock() + RELEASE_DELAY_S, "internal error"
        )
