"""Workers: the imperative shell around the pipeline, the destinations and the ledger.

Each worker loops: claim the next file to prepare (scrub + seal into the spool, once) or, if
there is none, the next due delivery (upload, verify the provider's fingerprint of exactly those
bytes, record). Preparing comes first so the queue is sealed and ready even while uploads wait.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog

from picsync.crashpoints import crashpoint
from picsync.destinations import Destination, call_with_retry
from picsync.errors import (
    DestinationError,
    IntegrityError,
    PermanentError,
    PicsyncError,
    RefusedError,
    SourceError,
    describe_os_error,
)
from picsync.ledger import DuplicateContentError, Ledger, NewDelivery
from picsync.model import (
    Bury,
    DeliveryJob,
    FileState,
    Pause,
    Payload,
    PrepareJob,
    RemoteFile,
    Signature,
)
from picsync.naming import extension_for, new_remote_id, render_remote_base, short_hash
from picsync.pipeline import Sealer, Transform, produce, sha256_stream
from picsync.policy import RetryPolicy, decide
from picsync.sourcefile import VanishedError, current_signature, open_source
from picsync.spool import Spool

log = structlog.get_logger("picsync.worker")

IDLE_WAIT_S = 1.0


@dataclass(frozen=True, slots=True)
class SourceRoute:
    root: Path
    destinations: tuple[str, ...]
    requeue_delay: float  # how long a file that changed while read waits before the next try


@dataclass(frozen=True, slots=True)
class WorkerParts:
    """Everything a worker needs; built once by the daemon's composition root."""

    ledger: Ledger
    spool: Spool
    routes: Mapping[str, SourceRoute]
    destinations: Mapping[str, Destination]
    templates: Mapping[str, str]
    station: str
    transform: Transform
    sealer: Sealer
    retry: RetryPolicy
    doorbell: Doorbell
    clock: Callable[[], float] = time.time


class Doorbell:
    """Wakes idle workers when new work arrives (a condition variable with a counter)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._rings = 0

    def ring(self) -> None:
        with self._cond:
            self._rings += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        with self._cond:
            self._cond.wait_for(lambda: self._rings != seen, timeout)
            return self._rings

    @property
    def rings(self) -> int:
        return self._rings


class Worker:
    def __init__(self, parts: WorkerParts, stop: threading.Event) -> None:
        self.parts = parts
        self.stop = stop
        self.last_progress = time.monotonic()  # read by the daemon's health check

    def run(self) -> None:
        bell = self.parts.doorbell
        seen = bell.rings
        while not self.stop.is_set():
            try:
                busy = self.step()
            except Exception:
                log.exception("worker step failed")
                busy = False
            self.last_progress = time.monotonic()
            if not busy:
                seen = bell.wait(seen, self._idle_timeout())

    def _idle_timeout(self) -> float:
        parts = self.parts
        due = parts.ledger.next_due(parts.routes.keys(), parts.destinations.keys())
        if due is None:
            return IDLE_WAIT_S
        return max(0.01, min(IDLE_WAIT_S, due - parts.clock()))

    def step(self) -> bool:
        """Do one unit of work; False when there was nothing due."""
        parts = self.parts
        now = parts.clock()
        job = parts.ledger.claim_prepare(now, parts.routes.keys())
        if job is not None:
            self._guarded(lambda: self.prepare(job), lambda: self._release_prepare(job))
            return True
        delivery = parts.ledger.claim_delivery(now, parts.destinations.keys())
        if delivery is not None:
            self._guarded(lambda: self.deliver(delivery), lambda: self._release_delivery(delivery))
            return True
        return False

    def _guarded(self, work: Callable[[], None], release: Callable[[], None]) -> None:
        """A bug must not strand a claimed row until the next restart: hand it back."""
        try:
            work()
        except Exception:
            log.exception("unexpected error; the job goes back to the queue")
            release()

    def _release_prepare(self, job: PrepareJob) -> None:
        self.parts.ledger.retry_prepare(job.file_id, self.parts.clock() + 60, "internal error")

    def _release_delivery(self, job: DeliveryJob) -> None:
        self.parts.ledger.retry_delivery(job.delivery_id, self.parts.clock() + 60, "internal error")

    # ---- prepare: source → spool ---------------------------------------------------------------

    def prepare(self, job: PrepareJob) -> None:
        parts = self.parts
        route = parts.routes[job.source]
        where = {"file": job.file_id, "path": short_hash(job.path_key)}
        try:
            src, signature = open_source(route.root, job.rel_path)
        except VanishedError as exc:
            parts.ledger.finish_file(job.file_id, FileState.VANISHED, str(exc), parts.clock())
            log.warning("source vanished before it was read", **where)
            return
        except SourceError as exc:
            self._prepare_failed(job, exc)
            return
        with src:
            if signature != job.signature:
                self._requeue_changed(job, route, signature)
                return
            sha256, _ = sha256_stream(src)
            owner = parts.ledger.content_owner(job.source, sha256)
            if owner is not None and owner != job.file_id:
                parts.ledger.mark_duplicate(job.file_id, sha256, owner, parts.clock())
                log.info("duplicate of a file already taken", duplicate_of=owner, **where)
                return
            src.seek(0)
            remote_id = new_remote_id()
            spool_name = f"{remote_id}.image"
            try:
                with parts.spool.writing(spool_name) as out:
                    crashpoint("prepare.spool_writing")
                    produced = produce(src, out.file, parts.transform, parts.sealer)
            except RefusedError as exc:
                self._quarantine(job, str(exc))
                return
            crashpoint("prepare.spool_renamed")
            parts.spool.sync()
        after = current_signature(route.root, job.rel_path)
        if after != signature:
            parts.spool.remove([spool_name])
            if after is None:
                parts.ledger.finish_file(
                    job.file_id, FileState.VANISHED, "deleted while being read", parts.clock()
                )
                log.warning("source vanished while it was read", **where)
            else:
                self._requeue_changed(job, route, after)
            return
        suffix = extension_for(produced.result.format) + parts.sealer.suffix
        payload = Payload(spool_name=spool_name, suffix=suffix, size=out.size, sha256=out.sha256)
        now = parts.clock()
        when = datetime.fromtimestamp(now, tz=UTC)
        deliveries = [
            NewDelivery(
                destination=name,
                remote_base=render_remote_base(
                    parts.templates[name],
                    station=parts.station,
                    source=job.source,
                    remote_id=remote_id,
                    when=when,
                ),
            )
            for name in route.destinations
        ]
        try:
            parts.ledger.spooled(job.file_id, sha256, remote_id, [payload], deliveries, now)
        except DuplicateContentError:
            parts.spool.remove([spool_name])
            original = parts.ledger.content_owner(job.source, sha256) or job.file_id
            parts.ledger.mark_duplicate(job.file_id, sha256, original, parts.clock())
            log.info("duplicate of a file already taken", duplicate_of=original, **where)
            return
        crashpoint("prepare.committed")
        log.info("spooled", size=payload.size, deliveries=len(deliveries), **where)
        parts.doorbell.ring()

    def _requeue_changed(self, job: PrepareJob, route: SourceRoute, signature: Signature) -> None:
        self.parts.ledger.requeue_changed(
            job.file_id, signature, self.parts.clock() + route.requeue_delay
        )
        log.info("source changed while being read; will read it again", file=job.file_id)

    def _prepare_failed(self, job: PrepareJob, error: SourceError) -> None:
        decision = decide(error, job.attempts, self.parts.clock(), self.parts.retry)
        if isinstance(decision, Bury):
            self._quarantine(job, decision.reason)
        elif isinstance(decision, Pause):  # not raised by sources; treat as a retry
            self.parts.ledger.retry_prepare(job.file_id, decision.until, decision.reason)
        else:
            self.parts.ledger.retry_prepare(job.file_id, decision.not_before, decision.reason)
            log.warning("cannot read source yet", file=job.file_id, error=decision.reason)

    def _quarantine(self, job: PrepareJob, reason: str) -> None:
        self.parts.ledger.finish_file(
            job.file_id, FileState.QUARANTINED, reason, self.parts.clock()
        )
        log.warning("quarantined", file=job.file_id, path=short_hash(job.path_key), reason=reason)

    # ---- deliver: spool → destination ----------------------------------------------------------

    def deliver(self, job: DeliveryJob) -> None:
        parts = self.parts
        dest = parts.destinations[job.destination]
        where = {"delivery": job.delivery_id, "file": job.file_id, "dest": job.destination}
        try:
            remotes = [self._upload_payload(dest, job, payload) for payload in job.payloads]
        except DestinationError as exc:
            self._delivery_failed(job, exc)
            return
        except OSError as exc:
            # The spool file itself is unreadable: retrying will not fix it; an operator must.
            self._delivery_failed(
                job, PermanentError(f"spool file unreadable: {describe_os_error(exc)}")
            )
            return
        finished = parts.ledger.delivered(job.delivery_id, remotes, parts.clock())
        crashpoint("deliver.committed")
        log.info("delivered", **where)
        if finished:
            parts.spool.remove(finished)
            log.info("file done", file=job.file_id)

    def _upload_payload(self, dest: Destination, job: DeliveryJob, payload: Payload) -> RemoteFile:
        path = self.parts.spool.path(payload.spool_name)
        remote_path = job.remote_base + payload.suffix
        crashpoint("deliver.uploading")
        remote = call_with_retry(lambda: dest.upload(remote_path, path))
        crashpoint("deliver.uploaded")
        expected = dest.fingerprint(path)
        if remote.size != payload.size or remote.fingerprint != expected:
            raise IntegrityError("the destination holds different bytes than were sent")
        return remote

    def _delivery_failed(self, job: DeliveryJob, error: PicsyncError) -> None:
        parts = self.parts
        decision = decide(error, job.attempts, parts.clock(), parts.retry)
        where = {"delivery": job.delivery_id, "dest": job.destination}
        if isinstance(decision, Bury):
            parts.ledger.bury_delivery(job.delivery_id, decision.reason)
            log.error(
                "delivery is dead; run `picsync retry` once fixed", reason=decision.reason, **where
            )
        elif isinstance(decision, Pause):
            parts.ledger.pause_destination(job.destination, decision.until, decision.reason)
            parts.ledger.retry_delivery(
                job.delivery_id, decision.until, decision.reason, count_attempt=False
            )
            log.error("destination paused", reason=decision.reason, until=decision.until, **where)
        else:
            parts.ledger.retry_delivery(job.delivery_id, decision.not_before, decision.reason)
            log.warning("upload failed; will retry", reason=decision.reason, **where)
