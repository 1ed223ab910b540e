"""Prepare a discovered file: read it once, scrub it, seal it into the spool, record it.

Plaintext exists only in memory: the transform's output goes straight into age encryptors
writing spool files (``.part``, fsync, rename). The image is sealed to the records office's
recipients, and also to the station's own spool key when a destination of the route takes
plaintext by exception. A manifest sealed to the recipients says what the image is.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime
from typing import BinaryIO

import structlog

from picsync.crashpoints import crashpoint
from picsync.crypto import AgeEncryptor
from picsync.errors import RefusedError, SourceError, SpoolError
from picsync.heartbeat import touch
from picsync.identity import identifiers_from_path, patient_identifier, pseudonym
from picsync.ledger import DuplicateContentError, NewDelivery
from picsync.model import (
    Audience,
    Bury,
    FileState,
    Payload,
    PayloadKind,
    PrepareJob,
    Retry,
    Signature,
)
from picsync.naming import extension_for, new_remote_id, render_remote_base, short_hash
from picsync.parts import SourceRoute, WorkerParts
from picsync.pipeline import ManifestFacts, Produced, build_manifest, produce, sha256_stream
from picsync.policy import decide
from picsync.sourcefile import VanishedError, current_signature, open_source
from picsync.spool import SpoolWrite

log = structlog.get_logger("picsync.prepare")

SEALED = ".age"


def prepare(parts: WorkerParts, job: PrepareJob) -> None:
    route = parts.routes[job.source]
    where = {"file": job.file_id, "path": short_hash(job.path_key)}
    try:
        src, signature = open_source(route.root, job.rel_path)
    except VanishedError as exc:
        parts.audit.append("vanished", file=job.file_id, reason=str(exc))
        parts.ledger.finish_file(job.file_id, FileState.VANISHED, str(exc), parts.clock())
        log.warning("source vanished before it was read", **where)
        return
    except SourceError as exc:
        _failed(parts, job, exc)
        return
    with src:
        if signature != job.signature:
            _requeue_changed(parts, job, route, signature)
            return
        touch()
        source_sha256, source_size = sha256_stream(src)
        touch()
        owner = parts.ledger.content_owner(job.source, source_sha256)
        if owner is not None and owner != job.file_id:
            parts.audit.append(
                "duplicate",
                file=job.file_id,
                source_sha256=source_sha256,
                size=source_size,
                duplicate_of=owner,
            )
            parts.ledger.mark_duplicate(job.file_id, source_sha256, owner, parts.clock())
            log.info("duplicate of a file already taken", duplicate_of=owner, **where)
            return
        src.seek(0)
        remote_id = new_remote_id()
        station_copy = any(parts.plaintext.get(d, False) for d in route.destinations)
        try:
            images, produced = _seal_image(parts, src, remote_id, station_copy)
        except RefusedError as exc:
            _quarantine(parts, job, str(exc))
            return
        except SpoolError as exc:
            _spool_unavailable(parts, job, exc, [])
            return
    touch()
    crashpoint("prepare.spool_renamed")
    after = current_signature(route.root, job.rel_path)
    if after != signature:
        parts.spool.remove([w.name for w in images.values()])
        if after is None:
            parts.audit.append("vanished", file=job.file_id, reason="deleted while being read")
            parts.ledger.finish_file(
                job.file_id, FileState.VANISHED, "deleted while being read", parts.clock()
            )
            log.warning("source vanished while it was read", **where)
        else:
            _requeue_changed(parts, job, route, after)
        return
    now = parts.clock()
    extension = extension_for(produced.result.format)
    identifiers = {
        **identifiers_from_path(route.identity_rule, job.rel_path),
        **produced.result.identifiers,
    }
    patient = pseudonym(parts.pseudonym_key, patient_identifier(route.identity_rule, identifiers))
    facts = ManifestFacts(
        remote_id=remote_id,
        station=parts.station,
        source=job.source,
        original_path=job.rel_path,
        source_sha256=source_sha256,
        source_size=source_size,
        image_suffix=extension + SEALED,
        key_epoch=parts.key_epoch,
        prepared_at=datetime.fromtimestamp(now, tz=UTC).isoformat(timespec="seconds"),
    )
    try:
        manifest = _seal_manifest(parts, remote_id, build_manifest(facts, produced, identifiers))
        parts.spool.sync()
    except SpoolError as exc:
        written = [w.name for w in images.values()] + [f"{remote_id}.manifest{SEALED}"]
        _spool_unavailable(parts, job, exc, written)
        return
    payloads = [
        Payload(
            images[Audience.RECIPIENTS].name,
            extension + SEALED,
            images[Audience.RECIPIENTS].size,
            images[Audience.RECIPIENTS].sha256,
        ),
        Payload(
            manifest.name,
            ".json" + SEALED,
            manifest.size,
            manifest.sha256,
            kind=PayloadKind.MANIFEST,
        ),
    ]
    if Audience.STATION in images:
        # Uploaded decrypted: its size and hash are the plaintext's.
        payloads.append(
            Payload(
                images[Audience.STATION].name,
                extension,
                produced.plain_size,
                produced.plain_sha256,
                audience=Audience.STATION,
            )
        )
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
                patient=patient,
            ),
        )
        for name in route.destinations
    ]
    _audit_prepared(parts, job, source_sha256, source_size, remote_id, produced, payloads)
    try:
        parts.ledger.spooled(
            job.file_id, source_sha256, remote_id, payloads, deliveries, now, parts.key_epoch
        )
    except DuplicateContentError:
        parts.spool.remove([p.spool_name for p in payloads])
        original = parts.ledger.content_owner(job.source, source_sha256) or job.file_id
        parts.ledger.mark_duplicate(job.file_id, source_sha256, original, parts.clock())
        log.info("duplicate of a file already taken", duplicate_of=original, **where)
        return
    crashpoint("prepare.committed")
    log.info("spooled", size=produced.plain_size, deliveries=len(deliveries), **where)
    parts.doorbell.ring()


def _audit_prepared(
    parts: WorkerParts,
    job: PrepareJob,
    source_sha256: str,
    source_size: int,
    remote_id: str,
    produced: Produced,
    payloads: list[Payload],
) -> None:
    """Discovered, scrubbed, sealed: written before the ledger commits the spooled state."""
    sealed = {
        p.kind.value + ("_station" if p.audience == Audience.STATION else ""): p.sha256
        for p in payloads
    }
    # One append, one fsync: the ledger commits the three steps together too.
    parts.audit.append_many(
        [
            (
                "discovered",
                {
                    "file": job.file_id,
                    "source": job.source,
                    "source_sha256": source_sha256,
                    "size": source_size,
                },
            ),
            (
                "scrubbed",
                {
                    "file": job.file_id,
                    "format": produced.result.format.value,
                    "scrubbed_sha256": produced.plain_sha256,
                    "size": produced.plain_size,
                    "removed": list(produced.result.removed),
                },
            ),
            (
                "sealed",
                {
                    "file": job.file_id,
                    "remote_id": remote_id,
                    "ciphertext_sha256": sealed,
                    "key_epoch": parts.key_epoch,
                },
            ),
        ]
    )


def _seal_image(
    parts: WorkerParts, src: BinaryIO, remote_id: str, station_copy: bool
) -> tuple[dict[Audience, SpoolWrite], Produced]:
    audiences = [Audience.RECIPIENTS] + ([Audience.STATION] if station_copy else [])
    writes: dict[Audience, SpoolWrite] = {}
    with ExitStack() as stack:
        sinks = []
        for audience in audiences:
            name = f"{remote_id}.image{'.station' if audience == Audience.STATION else ''}{SEALED}"
            out = stack.enter_context(parts.spool.writing(name))
            keys = parts.recipients if audience == Audience.RECIPIENTS else parts.station_keys
            sinks.append(stack.enter_context(AgeEncryptor(out.file, keys)))
            writes[audience] = out
        crashpoint("prepare.spool_writing")
        produced = produce(src, parts.transform, sinks)
    return writes, produced


def _seal_manifest(parts: WorkerParts, remote_id: str, manifest: bytes) -> SpoolWrite:
    with (
        parts.spool.writing(f"{remote_id}.manifest{SEALED}") as out,
        AgeEncryptor(out.file, parts.recipients) as sealed,
    ):
        sealed.write(manifest)
    return out


def _requeue_changed(
    parts: WorkerParts, job: PrepareJob, route: SourceRoute, signature: Signature
) -> None:
    parts.ledger.requeue_changed(job.file_id, signature, parts.clock() + route.requeue_delay)
    log.info("source changed while being read; will read it again", file=job.file_id)


def _failed(parts: WorkerParts, job: PrepareJob, error: SourceError) -> None:
    decision = decide(error, job.attempts, parts.clock(), parts.retry)
    if isinstance(decision, Bury):
        _quarantine(parts, job, decision.reason)
        return
    not_before = decision.not_before if isinstance(decision, Retry) else decision.until
    parts.ledger.retry_prepare(job.file_id, not_before, decision.reason)
    log.warning("cannot read source yet", file=job.file_id, error=decision.reason)


def _spool_unavailable(
    parts: WorkerParts, job: PrepareJob, error: SpoolError, written: list[str]
) -> None:
    """The spool cannot take the file now (its disk is full): drop what was written of it and
    try again after the blocked pause. Not the file's fault: no attempt is counted and it is
    never quarantined for it (a full disk changes only *when* a photo goes, DESIGN.md)."""
    parts.spool.remove(written)
    parts.ledger.retry_prepare(
        job.file_id, parts.clock() + parts.retry.blocked_pause, str(error), count_attempt=False
    )
    log.error("the spool cannot take files now; will try again", file=job.file_id, error=str(error))


def _quarantine(parts: WorkerParts, job: PrepareJob, reason: str) -> None:
    parts.audit.append("quarantined", file=job.file_id, reason=reason)
    parts.ledger.finish_file(job.file_id, FileState.QUARANTINED, reason, parts.clock())
    log.warning("quarantined", file=job.file_id, path=short_hash(job.path_key), reason=reason)
