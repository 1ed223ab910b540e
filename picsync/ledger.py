"""The ledger: picsync's only durable state, in one SQLite file. The only module with SQL.

Every state change is one short transaction (``BEGIN IMMEDIATE`` … ``COMMIT``) with WAL and
``synchronous=FULL``, so a commit survives power loss. A claim is not a delete: claimed rows go
back to their waiting state at start-up (``recover``). Rows hold a source's relative path only
while the file is in flight; afterwards only a keyed hash of it (``path_key``) remains, so the
scan can still recognise the file without the ledger keeping patient names.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from picsync.model import (
    Audience,
    DeliveryJob,
    DisposalJob,
    FileState,
    Payload,
    PayloadKind,
    PrepareJob,
    RemoteFile,
    Signature,
)

SCHEMA_VERSION = 4

_SCHEMA = """
CREATE TABLE files (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    path_key TEXT NOT NULL,
    rel_path TEXT,
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    state TEXT NOT NULL,
    sha256 TEXT,
    remote_id TEXT UNIQUE,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    duplicate_of INTEGER REFERENCES files(id),
    discovered_at REAL NOT NULL,
    finished_at REAL
);
CREATE UNIQUE INDEX files_content ON files(source, sha256)
    WHERE sha256 IS NOT NULL AND state NOT IN ('duplicate', 'vanished');
CREATE INDEX files_path ON files(source, path_key);
CREATE INDEX files_due ON files(state, not_before);

CREATE TABLE payloads (
    file_id INTEGER NOT NULL REFERENCES files(id),
    suffix TEXT NOT NULL,
    spool_name TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (file_id, suffix)
);

CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files(id),
    destination TEXT NOT NULL,
    remote_base TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at REAL NOT NULL,
    delivered_at REAL,
    UNIQUE (file_id, destination)
);
CREATE INDEX deliveries_due ON deliveries(state, not_before);

CREATE TABLE remote_files (
    delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    PRIMARY KEY (delivery_id, path)
);

CREATE TABLE pauses (
    destination TEXT PRIMARY KEY,
    until REAL NOT NULL,
    reason TEXT NOT NULL
);
"""

# Each entry upgrades the schema from the version before it; index 0 leads to version 2.
_MIGRATIONS = (
    """
ALTER TABLE files ADD COLUMN key_epoch TEXT;
ALTER TABLE payloads ADD COLUMN kind TEXT NOT NULL DEFAULT 'image';
ALTER TABLE payloads ADD COLUMN audience TEXT NOT NULL DEFAULT 'recipients';
""",
    """
CREATE TABLE upload_state (
    delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
    remote_path TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (delivery_id, remote_path)
);
CREATE TABLE destination_cache (
    destination TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (destination, key)
);
""",
    """
ALTER TABLE files ADD COLUMN disposition TEXT;
ALTER TABLE remote_files ADD COLUMN region TEXT;
""",
)


class LedgerVersionError(Exception):
    """The ledger was written by a newer picsync."""


class DuplicateContentError(Exception):
    """Another file of the same source already holds these bytes (a race between workers)."""


@dataclass(frozen=True, slots=True)
class Discovery:
    """A complete file the watcher found."""

    source: str
    path_key: str
    rel_path: str
    signature: Signature


@dataclass(frozen=True, slots=True)
class NewDelivery:
    destination: str
    remote_base: str


@dataclass(frozen=True, slots=True)
class FileRow:
    """A file as ``status --paths`` and ``quarantine list`` show it."""

    id: int
    source: str
    rel_path: str | None
    state: str
    attempts: int
    last_error: str | None
    discovered_at: float


class Ledger:
    """Thread-safe access to the ledger: one SQLite connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        if not path.exists():
            # The ledger names files in flight; only picsync's user may read it. SQLite gives
            # its -wal and -shm files the same mode.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._migrate()

    # ---- connections and transactions -------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            # Cleared paths are zeroed on disk, not left in free pages.
            conn.execute("PRAGMA secure_delete=ON")
            conn.execute("PRAGMA busy_timeout=60000")
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _migrate(self) -> None:
        with self._tx() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise LedgerVersionError(
                    f"the ledger has schema version {version}, newer than this picsync "
                    f"understands ({SCHEMA_VERSION}); upgrade picsync"
                )
            if version == 0:
                _run_script(conn, _SCHEMA)
                version = 1
            for script in _MIGRATIONS[version - 1 :]:
                _run_script(conn, script)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def integrity_ok(self) -> bool:
        return bool(self._conn().execute("PRAGMA quick_check").fetchone()[0] == "ok")

    # ---- start-up ------------------------------------------------------------------------------

    def recover(self) -> tuple[int, int]:
        """Put interrupted work back in the queue; returns (files, deliveries) reset."""
        with self._tx() as conn:
            files = conn.execute("UPDATE files SET state='new' WHERE state='preparing'").rowcount
            files += conn.execute(
                "UPDATE files SET state='delivered' WHERE state='disposing'"
            ).rowcount
            deliveries = conn.execute(
                "UPDATE deliveries SET state='pending' WHERE state='running'"
            ).rowcount
        return files, deliveries

    def clamp_waits(self, now: float, horizon: float) -> int:
        """Bring every stored retry wait and pause that lies more than ``horizon`` seconds
        ahead back to ``now + horizon``: picsync never stores a longer one, so the clock
        stepped back, and without this each such wait would last the size of the step.
        (A source's retention wait before deletion is meant to be long and is left alone.)
        Returns the rows changed."""
        limit = now + horizon
        with self._tx() as conn:
            changed = conn.execute(
                "UPDATE files SET not_before=? WHERE state='new' AND not_before>?", (limit, limit)
            ).rowcount
            changed += conn.execute(
                "UPDATE deliveries SET not_before=? WHERE state='pending' AND not_before>?",
                (limit, limit),
            ).rowcount
            changed += conn.execute(
                "UPDATE pauses SET until=? WHERE until>?", (limit, limit)
            ).rowcount
        return changed

    def silent_since(self, destination: str) -> float | None:
        """When ``destination`` last stored a delivery, or else when its oldest delivery was
        queued: how long it has been silent, for retries of failures without an answer."""
        row = (
            self._conn()
            .execute(
                "SELECT COALESCE(MAX(delivered_at), MIN(created_at)) FROM deliveries "
                "WHERE destination=?",
                (destination,),
            )
            .fetchone()
        )
        return None if row is None or row[0] is None else float(row[0])

    def live_spool_names(self) -> set[str]:
        """Spool files still needed: payloads of files that are spooled and not yet done."""
        rows = self._conn().execute(
            "SELECT p.spool_name FROM payloads p JOIN files f ON f.id = p.file_id "
            "WHERE f.state = 'spooled'"
        )
        return {row[0] for row in rows}

    # ---- discovery -----------------------------------------------------------------------------

    def known_signatures(self, source: str) -> dict[str, Signature]:
        """Latest signature per path key, for a scan to skip files already taken."""
        rows = self._conn().execute(
            "SELECT path_key, dev, ino, size, mtime_ns FROM files WHERE source=? ORDER BY id",
            (source,),
        )
        return {row[0]: Signature(*row[1:]) for row in rows}

    def discover(
        self, source: str, path_key: str, rel_path: str, sig: Signature, now: float
    ) -> int | None:
        """Record a complete file; returns its id, or None when this version is already known."""
        return self.discover_many([Discovery(source, path_key, rel_path, sig)], now)[0]

    def discover_many(self, found: Sequence[Discovery], now: float) -> list[int | None]:
        """Record many complete files in one transaction (one fsync for a whole catch-up batch)."""
        with self._tx() as conn:
            return [self._discover_one(conn, item, now) for item in found]

    @staticmethod
    def _discover_one(conn: sqlite3.Connection, item: Discovery, now: float) -> int | None:
        sig = item.signature
        row = conn.execute(
            "SELECT id, state, dev, ino, size, mtime_ns FROM files "
            "WHERE source=? AND path_key=? ORDER BY id DESC LIMIT 1",
            (item.source, item.path_key),
        ).fetchone()
        if row is not None:
            file_id, state, *old = row
            if Signature(*old) == sig:
                return None
            if state == FileState.NEW:
                # Rewritten before we got to it: take the newer version in place.
                conn.execute(
                    "UPDATE files SET dev=?, ino=?, size=?, mtime_ns=? WHERE id=?",
                    (sig.dev, sig.ino, sig.size, sig.mtime_ns, file_id),
                )
                return int(file_id)
            if state == FileState.PREPARING:
                return None  # the worker re-stats after reading and notices the change
        cur = conn.execute(
            "INSERT INTO files (source, path_key, rel_path, dev, ino, size, mtime_ns, state, "
            "discovered_at) VALUES (?,?,?,?,?,?,?,'new',?)",
            (
                item.source,
                item.path_key,
                item.rel_path,
                sig.dev,
                sig.ino,
                sig.size,
                sig.mtime_ns,
                now,
            ),
        )
        return int(cur.lastrowid or 0)

    def quarantine_new(
        self, source: str, path_key: str, rel_path: str, sig: Signature, reason: str, now: float
    ) -> int:
        """Record a file that never became ready (e.g. still incomplete after max_wait)."""
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO files (source, path_key, rel_path, dev, ino, size, mtime_ns, state, "
                "last_error, discovered_at, finished_at) "
                "VALUES (?,?,?,?,?,?,?,'quarantined',?,?,?)",
                (
                    source,
                    path_key,
                    rel_path,
                    sig.dev,
                    sig.ino,
                    sig.size,
                    sig.mtime_ns,
                    reason,
                    now,
                    now,
                ),
            )
            return int(cur.lastrowid or 0)

    # ---- preparing ------------------------------------------------------------------------------

    def claim_prepare(self, now: float, sources: Iterable[str]) -> PrepareJob | None:
        with self._tx() as conn:
            row = conn.execute(
                "SELECT id, source, rel_path, path_key, dev, ino, size, mtime_ns, attempts "
                "FROM files "
                "WHERE state='new' AND not_before<=? "
                "AND source IN (SELECT value FROM json_each(?)) "
                "ORDER BY not_before, id LIMIT 1",
                (now, _json_list(sources)),
            ).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE files SET state='preparing' WHERE id=?", (row[0],))
        return PrepareJob(
            file_id=row[0],
            source=row[1],
            rel_path=row[2],
            path_key=row[3],
            signature=Signature(*row[4:8]),
            attempts=row[8],
        )

    def content_owner(self, source: str, sha256: str) -> int | None:
        """The file already recorded with these bytes for this source, if any."""
        row = (
            self._conn()
            .execute(
                "SELECT id FROM files WHERE source=? AND sha256=? "
                "AND state NOT IN ('duplicate', 'vanished')",
                (source, sha256),
            )
            .fetchone()
        )
        return None if row is None else int(row[0])

    def mark_duplicate(self, file_id: int, sha256: str, original: int, now: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE files SET state='duplicate', sha256=?, duplicate_of=?, rel_path=NULL, "
                "finished_at=? WHERE id=?",
                (sha256, original, now, file_id),
            )

    def spooled(
        self,
        file_id: int,
        sha256: str,
        remote_id: str,
        payloads: Sequence[Payload],
        deliveries: Sequence[NewDelivery],
        now: float,
        key_epoch: str | None = None,
    ) -> None:
        """Commit a prepared file: its payloads are in the spool; its deliveries may start."""
        with self._tx() as conn:
            try:
                conn.execute(
                    "UPDATE files SET state='spooled', sha256=?, remote_id=?, key_epoch=?, "
                    "last_error=NULL WHERE id=?",
                    (sha256, remote_id, key_epoch, file_id),
                )
            except sqlite3.IntegrityError:
                raise DuplicateContentError() from None
            conn.executemany(
                "INSERT INTO payloads (file_id, suffix, spool_name, size, sha256, kind, audience) "
                "VALUES (?,?,?,?,?,?,?)",
                [
                    (file_id, p.suffix, p.spool_name, p.size, p.sha256, p.kind, p.audience)
                    for p in payloads
                ],
            )
            conn.executemany(
                "INSERT INTO deliveries (file_id, destination, remote_base, state, created_at) "
                "VALUES (?,?,?,'pending',?)",
                [(file_id, d.destination, d.remote_base, now) for d in deliveries],
            )

    def retry_prepare(
        self, file_id: int, not_before: float, error: str, *, count_attempt: bool = True
    ) -> None:
        """Hand a claimed file back to wait. Only a claimed one: a worker that failed *after*
        its step was recorded (e.g. spooled) must not undo the step (retry_delivery and
        postpone_disposal are guarded the same way)."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE files SET state='new', not_before=?, last_error=?, "
                "attempts=attempts+? WHERE id=? AND state='preparing'",
                (not_before, error, 1 if count_attempt else 0, file_id),
            )

    def requeue_changed(self, file_id: int, sig: Signature, not_before: float) -> None:
        """The file changed while we read it: wait for it to settle and read it again."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE files SET state='new', dev=?, ino=?, size=?, mtime_ns=?, not_before=?, "
                "last_error='changed while being read' WHERE id=?",
                (sig.dev, sig.ino, sig.size, sig.mtime_ns, not_before, file_id),
            )

    def finish_file(self, file_id: int, state: FileState, reason: str | None, now: float) -> None:
        """End a file in a terminal state; a quarantined file keeps its path for the operator."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE files SET state=?1, last_error=?2, finished_at=?3, "
                "rel_path = CASE WHEN ?1 = 'quarantined' THEN rel_path END WHERE id=?4",
                (state.value, reason, now, file_id),
            )

    # ---- deliveries ----------------------------------------------------------------------------

    def claim_delivery(self, now: float, destinations: Iterable[str]) -> DeliveryJob | None:
        """The next due delivery to a destination that is configured and not paused."""
        with self._tx() as conn:
            row = conn.execute(
                "SELECT id, file_id, destination, remote_base, attempts FROM deliveries "
                "WHERE state='pending' AND not_before<=?1 "
                "AND destination IN (SELECT value FROM json_each(?2)) "
                "AND destination NOT IN (SELECT destination FROM pauses WHERE until>?1) "
                "ORDER BY not_before, id LIMIT 1",
                (now, _json_list(destinations)),
            ).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE deliveries SET state='running' WHERE id=?", (row[0],))
            payloads = conn.execute(
                "SELECT spool_name, suffix, size, sha256, kind, audience FROM payloads "
                "WHERE file_id=? ORDER BY kind, suffix",
                (row[1],),
            ).fetchall()
        return DeliveryJob(
            delivery_id=row[0],
            file_id=row[1],
            destination=row[2],
            remote_base=row[3],
            attempts=row[4],
            payloads=tuple(
                Payload(
                    spool_name=p[0],
                    suffix=p[1],
                    size=p[2],
                    sha256=p[3],
                    kind=PayloadKind(p[4]),
                    audience=Audience(p[5]),
                )
                for p in payloads
            ),
        )

    def finishes_a_kept_file(self, delivery_id: int, keep_sources: Iterable[str]) -> bool:
        """True when this delivery is its file's last open one and the file's source keeps its
        originals: then ``delivered(..., kept=True)`` can end the file at once (no disposal
        step). Deliveries only ever move towards done, so a True stays true until then."""
        row = (
            self._conn()
            .execute(
                "SELECT f.source IN (SELECT value FROM json_each(?)), "
                "(SELECT COUNT(*) FROM deliveries o WHERE o.file_id = d.file_id "
                "AND o.id != d.id AND o.state != 'done') "
                "FROM deliveries d JOIN files f ON f.id = d.file_id WHERE d.id=?",
                (_json_list(keep_sources), delivery_id),
            )
            .fetchone()
        )
        return row is not None and bool(row[0]) and row[1] == 0

    def delivered(
        self,
        delivery_id: int,
        remotes: Sequence[RemoteFile],
        now: float,
        region: str | None = None,
        *,
        kept: bool = False,
    ) -> list[str]:
        """Record a verified delivery. When it was the file's last, the file is done in the same
        transaction and the spool names it no longer needs are returned for deletion.

        ``kept``: the caller found (``finishes_a_kept_file``) that this ends a file whose
        source is kept, and has audited its disposition: the file is done, not delivered.
        """
        with self._tx() as conn:
            conn.execute(
                "UPDATE deliveries SET state='done', delivered_at=?, last_error=NULL WHERE id=?",
                (now, delivery_id),
            )
            conn.executemany(
                "INSERT OR REPLACE INTO remote_files "
                "(delivery_id, path, size, fingerprint, region) VALUES (?,?,?,?,?)",
                [(delivery_id, r.path, r.size, r.fingerprint, region) for r in remotes],
            )
            conn.execute("DELETE FROM upload_state WHERE delivery_id=?", (delivery_id,))
            # The destination took a file: whatever blocked it is over (``blocked``).
            conn.execute(
                "DELETE FROM pauses WHERE destination = "
                "(SELECT destination FROM deliveries WHERE id=?)",
                (delivery_id,),
            )
            (file_id,) = conn.execute(
                "SELECT file_id FROM deliveries WHERE id=?", (delivery_id,)
            ).fetchone()
            (open_count,) = conn.execute(
                "SELECT COUNT(*) FROM deliveries WHERE file_id=? AND state != 'done'", (file_id,)
            ).fetchone()
            if open_count:
                return []
            if kept:
                # Nothing to do to the source: its journey ends here (as ``disposed`` would).
                conn.execute(
                    "UPDATE files SET state='done', rel_path=NULL, disposition='kept', "
                    "not_before=?, finished_at=? WHERE id=?",
                    (now, now, file_id),
                )
            else:
                # Every copy is verified: the spool is no longer needed; the source now waits
                # for its disposition (move or delete), still with its path.
                conn.execute(
                    "UPDATE files SET state='delivered', not_before=?, finished_at=? WHERE id=?",
                    (now, now, file_id),
                )
            rows = conn.execute(
                "SELECT spool_name FROM payloads WHERE file_id=?", (file_id,)
            ).fetchall()
        return [row[0] for row in rows]

    def claim_disposal(self, now: float, sources: Iterable[str]) -> DisposalJob | None:
        """A delivered file whose source may now be kept, moved or deleted."""
        with self._tx() as conn:
            row = conn.execute(
                "SELECT id, source, rel_path, path_key, dev, ino, size, mtime_ns, finished_at, "
                "remote_id FROM files WHERE state='delivered' AND not_before<=? "
                "AND source IN (SELECT value FROM json_each(?)) ORDER BY not_before, id LIMIT 1",
                (now, _json_list(sources)),
            ).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE files SET state='disposing' WHERE id=?", (row[0],))
        return DisposalJob(
            file_id=row[0],
            source=row[1],
            rel_path=row[2],
            path_key=row[3],
            signature=Signature(*row[4:8]),
            delivered_at=row[8],
            remote_id=row[9],
        )

    def disposed(self, file_id: int, disposition: str, now: float) -> None:
        """The file's journey is over: forget its path, remember what happened to the source."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE files SET state='done', rel_path=NULL, disposition=?, finished_at=? "
                "WHERE id=?",
                (disposition, now, file_id),
            )

    def postpone_disposal(self, file_id: int, not_before: float, reason: str | None) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE files SET state='delivered', not_before=?, last_error=? "
                "WHERE id=? AND state='disposing'",
                (not_before, reason, file_id),
            )

    def retry_delivery(
        self, delivery_id: int, not_before: float, error: str, *, count_attempt: bool = True
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE deliveries SET state='pending', not_before=?, last_error=?, "
                "attempts=attempts+? WHERE id=? AND state='running'",
                (not_before, error, 1 if count_attempt else 0, delivery_id),
            )

    def bury_delivery(self, delivery_id: int, error: str) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE deliveries SET state='dead', attempts=attempts+1, last_error=? WHERE id=?",
                (error, delivery_id),
            )

    def pause_destination(self, destination: str, until: float, reason: str) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO pauses (destination, until, reason) VALUES (?,?,?)",
                (destination, until, reason),
            )

    def blocked(self) -> dict[str, str]:
        """Destinations blocked since their last delivery, with the reason: a pause outlives
        its ``until`` (after which one delivery probes the destination again) until a delivery
        succeeds, so an incident does not end and begin again at every probe."""
        rows = self._conn().execute("SELECT destination, reason FROM pauses")
        return {row[0]: row[1] for row in rows}

    def next_due(self, sources: Iterable[str], destinations: Iterable[str]) -> float | None:
        """The earliest not_before among waiting work, for workers to sleep until."""
        conn = self._conn()
        (files,) = conn.execute(
            "SELECT MIN(not_before) FROM files WHERE state IN ('new', 'delivered') "
            "AND source IN (SELECT value FROM json_each(?))",
            (_json_list(sources),),
        ).fetchone()
        (deliveries,) = conn.execute(
            "SELECT MIN(not_before) FROM deliveries WHERE state='pending' "
            "AND destination IN (SELECT value FROM json_each(?))",
            (_json_list(destinations),),
        ).fetchone()
        found = [t for t in (files, deliveries) if t is not None]
        return min(found) if found else None

    # ---- what destinations keep between attempts and restarts -------------------------------

    def load_upload_state(self, delivery_id: int, remote_path: str) -> str | None:
        row = (
            self._conn()
            .execute(
                "SELECT state FROM upload_state WHERE delivery_id=? AND remote_path=?",
                (delivery_id, remote_path),
            )
            .fetchone()
        )
        return None if row is None else str(row[0])

    def save_upload_state(self, delivery_id: int, remote_path: str, state: str, now: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO upload_state (delivery_id, remote_path, state, updated_at) "
                "VALUES (?,?,?,?)",
                (delivery_id, remote_path, state, now),
            )

    def clear_upload_state(self, delivery_id: int, remote_path: str) -> None:
        with self._tx() as conn:
            conn.execute(
                "DELETE FROM upload_state WHERE delivery_id=? AND remote_path=?",
                (delivery_id, remote_path),
            )

    def cache_get(self, destination: str, key: str) -> str | None:
        row = (
            self._conn()
            .execute(
                "SELECT value FROM destination_cache WHERE destination=? AND key=?",
                (destination, key),
            )
            .fetchone()
        )
        return None if row is None else str(row[0])

    def cache_put(self, destination: str, key: str, value: str) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO destination_cache (destination, key, value) VALUES (?,?,?)",
                (destination, key, value),
            )

    def cache_delete(self, destination: str, key: str) -> None:
        with self._tx() as conn:
            conn.execute(
                "DELETE FROM destination_cache WHERE destination=? AND key=?", (destination, key)
            )

    # ---- operator commands ----------------------------------------------------------------------

    def release_quarantined(self, file_ids: Sequence[int] | None, now: float) -> list[int]:
        """``picsync quarantine release``: quarantined files go back to be prepared again.

        ``None`` releases every quarantined file. Returns the ids released.
        """
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT id FROM files WHERE state='quarantined' AND rel_path IS NOT NULL"
            ).fetchall()
            candidates = {row[0] for row in rows}
            chosen = sorted(candidates if file_ids is None else candidates & set(file_ids))
            conn.executemany(
                "UPDATE files SET state='new', attempts=0, not_before=?, last_error=NULL, "
                "finished_at=NULL WHERE id=?",
                [(now, file_id) for file_id in chosen],
            )
        return chosen

    def revive_dead(self, now: float) -> int:
        """``picsync retry``: dead deliveries go back to pending with a fresh attempt count."""
        with self._tx() as conn:
            return conn.execute(
                "UPDATE deliveries SET state='pending', attempts=0, not_before=? "
                "WHERE state='dead'",
                (now,),
            ).rowcount

    def file_counts(self) -> dict[str, int]:
        rows = self._conn().execute("SELECT state, COUNT(*) FROM files GROUP BY state")
        return {state: count for state, count in rows}

    def delivery_counts(self) -> dict[str, dict[str, int]]:
        rows = self._conn().execute(
            "SELECT destination, state, COUNT(*) FROM deliveries GROUP BY destination, state"
        )
        result: dict[str, dict[str, int]] = {}
        for dest, state, count in rows:
            result.setdefault(dest, {})[state] = count
        return result

    def oldest_pending(self) -> float | None:
        """Creation time of the oldest delivery (or file waiting to be prepared) not yet done."""
        conn = self._conn()
        a = conn.execute(
            "SELECT MIN(created_at) FROM deliveries WHERE state IN ('pending', 'running')"
        ).fetchone()[0]
        b = conn.execute(
            "SELECT MIN(discovered_at) FROM files WHERE state IN ('new', 'preparing') "
            "OR (state IN ('delivered', 'disposing') AND not_before <= ?)",
            (wall_clock(),),
        ).fetchone()[0]
        found = [t for t in (a, b) if t is not None]
        return min(found) if found else None

    def delivered_since(self, since: float) -> dict[str, tuple[int, int]]:
        """Per destination, deliveries recorded since ``since`` and the bytes they stored."""
        rows = self._conn().execute(
            "SELECT d.destination, COUNT(DISTINCT d.id), COALESCE(SUM(r.size), 0) "
            "FROM deliveries d LEFT JOIN remote_files r ON r.delivery_id = d.id "
            "WHERE d.state='done' AND d.delivered_at >= ? GROUP BY d.destination",
            (since,),
        )
        return {row[0]: (row[1], row[2]) for row in rows}

    def oldest_pending_by_destination(self) -> dict[str, float]:
        """Per destination, when its oldest delivery not yet done was created."""
        rows = self._conn().execute(
            "SELECT destination, MIN(created_at) FROM deliveries "
            "WHERE state IN ('pending', 'running') GROUP BY destination"
        )
        return {row[0]: row[1] for row in rows}

    def last_errors(self, limit: int = 10) -> list[tuple[str, str, int, str]]:
        """(kind, where, id, error) of the most recent failing work, newest first."""
        rows = self._conn().execute(
            "SELECT 'delivery', destination, id, last_error FROM deliveries "
            "WHERE last_error IS NOT NULL AND state != 'done' "
            "UNION ALL SELECT 'file', source, id, last_error FROM files "
            "WHERE last_error IS NOT NULL AND state IN ('new', 'quarantined') "
            "ORDER BY 3 DESC LIMIT ?",
            (limit,),
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def pauses(self, now: float) -> dict[str, tuple[float, str]]:
        rows = self._conn().execute(
            "SELECT destination, until, reason FROM pauses WHERE until>?", (now,)
        )
        return {r[0]: (r[1], r[2]) for r in rows}

    def files_in_states(self, states: Iterable[str], limit: int = 1000) -> list[FileRow]:
        rows = self._conn().execute(
            "SELECT id, source, rel_path, state, attempts, last_error, discovered_at FROM files "
            "WHERE state IN (SELECT value FROM json_each(?)) ORDER BY id LIMIT ?",
            (_json_list(states), limit),
        )
        return [FileRow(*row) for row in rows]

    def delivery_rows(self) -> list[tuple[int, int, str, str, int, str | None, str]]:
        """(delivery id, file id, destination, state, attempts, last error, remote base)."""
        rows = self._conn().execute(
            "SELECT id, file_id, destination, state, attempts, last_error, remote_base "
            "FROM deliveries ORDER BY id"
        )
        return [tuple(row) for row in rows]


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    """Statements one by one: executescript() would commit the open transaction."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _json_list(values: Iterable[str]) -> str:
    """A list of names as one SQL parameter, for ``IN (SELECT value FROM json_each(?))``."""
    return json.dumps(list(values))


def wall_clock() -> float:
    """The ledger stores wall-clock times (they must mean something after a restart)."""
    return time.time()


@dataclass(frozen=True, slots=True)
class UploadStateSlot:
    """One delivery's resumable-upload state for one remote path (a destination's ResumeState)."""

    ledger: Ledger
    delivery_id: int
    remote_path: str

    def load(self) -> str | None:
        return self.ledger.load_upload_state(self.delivery_id, self.remote_path)

    def save(self, state: str) -> None:
        self.ledger.save_upload_state(self.delivery_id, self.remote_path, state, wall_clock())

    def clear(self) -> None:
        self.ledger.clear_upload_state(self.delivery_id, self.remote_path)


@dataclass(frozen=True, slots=True)
class DestinationCache:
    """A destination's durable key-value cache (a destination's KeyValueCache)."""

    ledger: Ledger
    destination: str

    def get(self, key: str) -> str | None:
        return self.ledger.cache_get(self.destination, key)

    def put(self, key: str, value: str) -> None:
        self.ledger.cache_put(self.destination, key, value)

    def delete(self, key: str) -> None:
        self.ledger.cache_delete(self.destination, key)
