"""Deliver one spooled file to one destination: upload each payload, verify, record.

A destination that takes ciphertext gets the sealed image and the sealed manifest. One that
takes plaintext by exception gets the image decrypted on the fly from the station-sealed spool
copy, and the manifest still sealed. Every upload is checked against the destination's own
fingerprint of exactly the bytes that were sent before the delivery counts as done.
"""

from __future__ import annotations

import threading
from typing import Any

import structlog

from picsync import heartbeat
from picsync.crashpoints import crashpoint
from picsync.destinations import Destination, PayloadSource, call_with_retry
from picsync.errors import (
    DestinationError,
    IntegrityError,
    PermanentError,
    PicsyncError,
    UnansweredError,
    WindowClosedError,
    describe_os_error,
)
from picsync.ledger import UploadStateSlot
from picsync.model import (
    Audience,
    Bury,
    DeliveryJob,
    Pause,
    Payload,
    PayloadKind,
    RemoteFile,
    Retry,
)
from picsync.parts import WorkerParts
from picsync.policy import decide
from picsync.spool import DecryptedSpoolFile, SpoolFile
from picsync.upload_stream import UploadSource

log = structlog.get_logger("picsync.deliver")


def payloads_for(job: DeliveryJob, plaintext: bool) -> list[Payload]:
    """What this destination receives: the manifest always sealed; the image sealed, or for a
    plaintext destination the station-sealed copy (uploaded decrypted)."""
    wanted_image = Audience.STATION if plaintext else Audience.RECIPIENTS
    return [p for p in job.payloads if p.kind == PayloadKind.MANIFEST or p.audience == wanted_image]


def deliver(parts: WorkerParts, job: DeliveryJob) -> None:
    dest = parts.destinations[job.destination]
    plaintext = parts.plaintext.get(job.destination, False)
    where = {"delivery": job.delivery_id, "file": job.file_id, "dest": job.destination}
    try:
        chosen = payloads_for(job, plaintext)
        if len(chosen) != 2:
            raise PermanentError("the spool lacks a payload this destination needs")
        remotes = _upload_pair(parts, dest, job, chosen)
    except WindowClosedError as exc:
        parts.ledger.retry_delivery(job.delivery_id, exc.opens_at, str(exc), count_attempt=False)
        log.info("upload window closed; the upload continues when it opens", **where)
        return
    except DestinationError as exc:
        _failed(parts, job, exc)
        return
    except OSError as exc:
        # The spool file itself is unreadable: retrying will not fix it; an operator must.
        _failed(parts, job, PermanentError(f"spool file unreadable: {describe_os_error(exc)}"))
        return
    remote_id = job.remote_base.rsplit("/", 1)[-1]
    events: list[tuple[str, dict[str, object]]] = [
        (
            "uploaded",
            {
                "file": job.file_id,
                "remote_id": remote_id,
                "destination": job.destination,
                "region": dest.region,
                "objects": [
                    {"path": r.path, "size": r.size, "fingerprint": r.fingerprint} for r in remotes
                ],
            },
        )
    ]
    # A source that is kept needs no disposal step of its own: when this delivery is its
    # file's last, the file ends here, its disposition audited with the upload (one fsync).
    kept = parts.ledger.finishes_a_kept_file(job.delivery_id, parts.keep_sources)
    if kept:
        events.append(
            ("disposed", {"file": job.file_id, "remote_id": remote_id, "disposition": "kept"})
        )
    parts.audit.append_many(events)
    finished = parts.ledger.delivered(
        job.delivery_id, remotes, parts.clock(), dest.region, kept=kept
    )
    if parts.metrics is not None:
        parts.metrics.delivered(job.destination, sum(r.size for r in remotes), parts.clock())
    crashpoint("deliver.committed")
    log.info("delivered", region=dest.region, **where)
    if finished:
        parts.spool.remove(finished)
        log.info("file done", file=job.file_id)


def _source(parts: WorkerParts, payload: Payload) -> PayloadSource:
    path = parts.spool.path(payload.spool_name)
    if payload.audience == Audience.STATION:
        return DecryptedSpoolFile(path, payload.size, parts.station_identities)
    return SpoolFile(path, payload.size)


def _upload_pair(
    parts: WorkerParts, dest: Destination, job: DeliveryJob, pair: list[Payload]
) -> list[RemoteFile]:
    """Upload image and manifest at the same time, the second on a helper thread: over a
    network each upload is mostly waiting for answers, and with Dropbox both commits then
    join one batch (half the round trips per photo). Both always finish (or fail) before
    this returns; the first failure is raised."""
    # The larger payload (the image: a chunked upload keeps its resume state in the ledger)
    # stays on the worker's own thread; the manifest, a few KB, goes on the helper.
    big, small = (0, 1) if pair[0].size >= pair[1].size else (1, 0)
    beat = heartbeat.current()
    remotes: list[Any] = [None, None]
    errors: list[BaseException] = []

    def upload_small() -> None:
        if beat is not None:
            heartbeat.register(beat)  # its progress is the worker's progress
        try:
            remotes[small] = _upload(parts, dest, job, pair[small])
        except BaseException as exc:  # handed to the worker's thread below
            errors.append(exc)

    helper = threading.Thread(target=upload_small, name="picsync-upload-pair", daemon=True)
    helper.start()
    try:
        remotes[big] = _upload(parts, dest, job, pair[big])
    finally:
        helper.join()
    if errors:
        raise errors[0]
    return remotes


def _upload(
    parts: WorkerParts, dest: Destination, job: DeliveryJob, payload: Payload
) -> RemoteFile:
    source = _source(parts, payload)
    # The upload reads through the window gate, the bandwidth limit and the heartbeat; the
    # fingerprint below is computed from the plain payload.
    upload = UploadSource(
        source,
        parts.windows.get(job.destination),
        parts.limiters.get(job.destination),
        parts.clock,
    )
    remote_path = job.remote_base + payload.suffix
    crashpoint("deliver.uploading")
    resume = UploadStateSlot(parts.ledger, job.delivery_id, remote_path)
    remote = call_with_retry(lambda: dest.upload(remote_path, upload, resume))
    crashpoint("deliver.uploaded")
    expected = dest.fingerprint(source)
    if remote.size != payload.size or remote.fingerprint != expected:
        raise IntegrityError("the destination holds different bytes than were sent")
    return remote


def _failed(parts: WorkerParts, job: DeliveryJob, error: PicsyncError) -> None:
    silent_since = (
        parts.ledger.silent_since(job.destination) if isinstance(error, UnansweredError) else None
    )
    decision = decide(error, job.attempts, parts.clock(), parts.retry, silent_since=silent_since)
    where = {"delivery": job.delivery_id, "dest": job.destination}
    if parts.metrics is not None:
        parts.metrics.failed(job.destination, type(error).__name__, isinstance(decision, Retry))
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
        parts.ledger.retry_delivery(
            job.delivery_id, decision.not_before, decision.reason, count_attempt=decision.counted
        )
        log.warning("upload failed; will retry", reason=decision.reason, **where)
