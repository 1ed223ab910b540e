"""After every delivery of a file is verified: keep, move or delete its source.

Nothing happens to a source before that point, and a source that changed since picsync read
it is left alone (it is a new version; the watcher takes it as one). ``move`` puts the file
under the source's archive folder at the same relative path; ``delete`` waits
``retention_days`` after delivery first.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import structlog

from picsync.crashpoints import crashpoint
from picsync.errors import describe_os_error
from picsync.fsutil import fsync_dir
from picsync.model import DisposalJob
from picsync.naming import short_hash
from picsync.parts import WorkerParts
from picsync.sourcefile import current_signature

log = structlog.get_logger("picsync.dispose")

RETRY_S = 300.0
DAY_S = 86400.0


def dispose(parts: WorkerParts, job: DisposalJob) -> None:
    route = parts.routes[job.source]
    now = parts.clock()
    if route.after_upload == "delete":
        due = job.delivered_at + route.retention_days * DAY_S
        if now < due:
            parts.ledger.postpone_disposal(job.file_id, due, None)
            return
    current = current_signature(route.root, job.rel_path)
    if route.after_upload == "keep":
        outcome = "kept"
    elif current is None:
        outcome = "already gone"
    elif current != job.signature:
        outcome = "kept: changed since it was taken"
    else:
        try:
            outcome = _act(route.after_upload, route.root, route.archive_dir, job)
        except OSError as exc:
            reason = f"cannot {route.after_upload} the source: {describe_os_error(exc)}"
            parts.ledger.postpone_disposal(job.file_id, now + RETRY_S, reason)
            log.warning(reason, file=job.file_id, path=short_hash(job.path_key))
            return
    parts.audit.append("disposed", file=job.file_id, remote_id=job.remote_id, disposition=outcome)
    crashpoint("dispose.acted")
    parts.ledger.disposed(job.file_id, outcome, parts.clock())
    log.info("source disposed", file=job.file_id, disposition=outcome)


def _act(policy: str, root: Path, archive: Path | None, job: DisposalJob) -> str:
    source = root / job.rel_path
    if policy == "delete":
        source.unlink()
        fsync_dir(source.parent)
        return "deleted"
    assert archive is not None  # checked when the configuration was loaded
    target = archive / job.rel_path
    if target.exists():
        # A file of the same name was archived before: keep both, never overwrite.
        target = target.with_name(f"{target.stem}.{job.remote_id}{target.suffix}")
    target.parent.mkdir(parents=True, exist_ok=True)
    _move_durably(source, target)
    return "moved"


def _move_durably(source: Path, target: Path) -> None:
    """Rename on one filesystem; across filesystems copy, fsync, rename, and only then delete
    the original, so a power cut never leaves the photo in neither place."""
    try:
        source.rename(target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        tmp = target.with_name(f".{target.name}.partial")
        with open(source, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
            dst.flush()
            os.fsync(dst.fileno())
        shutil.copystat(source, tmp)
        tmp.replace(target)
        fsync_dir(target.parent)
        source.unlink()
    else:
        fsync_dir(target.parent)
    fsync_dir(source.parent)
