"""Watching: inotify events as hints, scans as the truth. The only watchdog importer.

Order matters (specs/watching.md §7): the observer starts before the catch-up scan, so nothing
can fall between them. Events and scans both only *note* a path; the settle loop decides when a
noted file is complete and records it in the ledger. A queue overflow or a dead observer
triggers a full rescan; polled sources are scanned on a timer.
"""

from __future__ import annotations

import logging
import os
import queue
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import structlog
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers.inotify import InotifyObserver

from picsync.audit import AuditLog
from picsync.completeness import check_complete
from picsync.intake import Candidate, Selection, first_sight, is_ignored_dir, is_settled, observe
from picsync.ledger import Discovery, Ledger
from picsync.model import Signature
from picsync.naming import path_key, short_hash
from picsync.sourcefile import signature_of

log = structlog.get_logger("picsync.watch")

TICK_S = 0.25
_EVENT_TYPES = frozenset({"created", "modified", "closed", "moved", "attrib"})


@dataclass(frozen=True, slots=True)
class WatchedSource:
    name: str
    root: Path
    mode: str  # "inotify" | "poll"
    selection: Selection
    quiet_closed: float
    quiet_unclosed: float
    max_wait: float
    scan_interval: float  # rescan period: poll_interval when polled, rescan_interval otherwise


class _EventHandler(FileSystemEventHandler):
    """Runs on watchdog's dispatcher thread: O(1), and never lets an exception escape (an
    escaping exception kills watchdog's dispatcher for good, specs/watching.md §2)."""

    def __init__(self, source: str, inbox: queue.SimpleQueue[tuple[str, str, bool]]) -> None:
        self._source = source
        self._inbox = inbox

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            if event.is_directory or event.event_type not in _EVENT_TYPES:
                return
            raw = event.dest_path if event.event_type == "moved" else event.src_path
            path = os.fsdecode(raw)
            self._inbox.put((self._source, path, event.event_type == "closed"))
        except Exception:
            log.exception("event handler failed; the periodic scan covers the event")


class _OverflowTrap(logging.Handler):
    """watchdog only *logs* an inotify queue overflow; turn that log line into a rescan."""

    def __init__(self, rescan: threading.Event) -> None:
        super().__init__(level=logging.WARNING)
        self._rescan = rescan

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self._rescan.set()


class Watcher:
    def __init__(
        self,
        sources: Mapping[str, WatchedSource],
        ledger: Ledger,
        hash_key: bytes,
        audit: AuditLog,
        on_found: Callable[[], None],
        stop: threading.Event,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.sources = sources
        self.ledger = ledger
        self.hash_key = hash_key
        self.audit = audit
        self.on_found = on_found
        self.stop = stop
        self.monotonic = monotonic
        self.wall = wall
        self.last_loop = monotonic()  # read by the daemon's health check
        self.rescan_needed = threading.Event()
        self._inbox: queue.SimpleQueue[tuple[str, str, bool]] = queue.SimpleQueue()
        self._pending: dict[tuple[str, str], Candidate] = {}
        self._next_scan: dict[str, float] = {}
        self._observer: InotifyObserver | None = None
        self._trap = _OverflowTrap(self.rescan_needed)

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the observer; the first loop iteration then runs the catch-up scan."""
        watchdog_log = logging.getLogger("watchdog")
        watchdog_log.addHandler(self._trap)
        if watchdog_log.getEffectiveLevel() > logging.WARNING:
            watchdog_log.setLevel(logging.WARNING)
        self._start_observer()
        self.rescan_needed.set()

    def _start_observer(self) -> None:
        inotify = [s for s in self.sources.values() if s.mode == "inotify"]
        if not inotify:
            return
        observer = InotifyObserver()
        for source in inotify:
            try:
                observer.schedule(
                    _EventHandler(source.name, self._inbox), str(source.root), recursive=True
                )
            except OSError as exc:
                log.error(
                    "cannot watch source with inotify; scanning it instead",
                    source=source.name,
                    error=exc.strerror,
                )
        observer.start()
        self._observer = observer

    def close(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        logging.getLogger("watchdog").removeHandler(self._trap)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("watch loop failed; continuing")
                self.stop.wait(1.0)
            self.last_loop = self.monotonic()
            self.stop.wait(TICK_S)

    # ---- one iteration -------------------------------------------------------------------------

    def tick(self) -> None:
        now = self.monotonic()
        self._drain_events(now)
        if self._observer is not None and not self._observer.is_alive() and not self.stop.is_set():
            log.error("the folder observer died; restarting it and rescanning")
            self._start_observer()
            self.rescan_needed.set()
        if self.rescan_needed.is_set():
            self.rescan_needed.clear()
            for name in self.sources:
                self._next_scan[name] = 0.0
        for name, source in self.sources.items():
            if now >= self._next_scan.get(name, 0.0):
                self.scan(source)
                self._next_scan[name] = self.monotonic() + source.scan_interval
        self._settle(self.monotonic())

    def _drain_events(self, now: float) -> None:
        while True:
            try:
                source_name, path, closed = self._inbox.get_nowait()
            except queue.Empty:
                return
            source = self.sources.get(source_name)
            if source is None:
                continue
            try:
                rel = Path(path).relative_to(source.root).as_posix()
            except ValueError:
                continue
            if source.selection.takes(rel):
                self._note(source_name, rel, now, closed)

    def _note(self, source: str, rel: str, now: float, closed: bool) -> None:
        key = (source, rel)
        existing = self._pending.get(key)
        if existing is None:
            self._pending[key] = first_sight(now, closed)
        elif closed and not existing.saw_closed:
            self._pending[key] = replace(existing, saw_closed=True)

    def scan(self, source: WatchedSource) -> int:
        """Note every file of ``source`` whose current version the ledger does not know."""
        if not source.root.is_dir():
            log.warning("source folder is missing; skipping its scan", source=source.name)
            return 0
        known = self.ledger.known_signatures(source.name)
        now = self.monotonic()
        noted = 0
        name, takes, pending = source.name, source.selection.takes, self._pending
        for rel, entry in _walk(source.root):
            if not takes(rel) or (name, rel) in pending:
                continue
            key = path_key(self.hash_key, name, rel)
            old = known.get(key)
            if old is not None and _unchanged(entry, old):
                continue
            # The key travels with the candidate, so that settling does not hash the path again.
            pending[(name, rel)] = first_sight(now, saw_closed=False, path_key=key)
            noted += 1
        return noted

    def _settle(self, now: float) -> None:
        ready: list[Discovery] = []
        wall = self.wall()
        # Paths as strings: joining and stat-ing a Path costs more than the lstat itself.
        roots = {name: f"{str(s.root).rstrip('/')}/" for name, s in self.sources.items()}
        for key, candidate in list(self._pending.items()):
            found = self._settle_one(key, candidate, roots[key[0]] + key[1], now, wall)
            if found is not None:
                ready.append(found)
        if ready:
            ids = self.ledger.discover_many(ready, wall)
            if any(i is not None for i in ids):
                self.on_found()

    def _settle_one(
        self, key: tuple[str, str], candidate: Candidate, path: str, now: float, wall: float
    ) -> Discovery | None:
        """Look at one pending file; return its discovery once it is settled and complete."""
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            del self._pending[key]  # vanished before it settled: nothing to record
            return None
        except OSError:
            return None  # e.g. a folder we may not enter yet; the next tick tries again
        if not stat.S_ISREG(info.st_mode):
            del self._pending[key]
            return None
        signature = signature_of(info)
        observed = observe(candidate, signature, now, wall - info.st_ctime)
        if observed is not candidate:
            self._pending[key] = candidate = observed
        source = self.sources[key[0]]
        if not is_settled(candidate, now, source.quiet_closed, source.quiet_unclosed):
            return None
        if now < candidate.next_check:
            return None
        reason = _incomplete_reason(path, info.st_size)
        pkey = candidate.path_key or path_key(self.hash_key, source.name, key[1])
        if reason is None:
            del self._pending[key]
            return Discovery(source.name, pkey, key[1], signature)
        if now - candidate.stable_since >= source.max_wait:
            self._quarantine(key, pkey, signature, reason, wall)
        else:
            # Incomplete but quiet: look again after another quiet period, not every tick.
            self._pending[key] = replace(candidate, next_check=now + source.quiet_unclosed)
        return None

    def _quarantine(
        self, key: tuple[str, str], pkey: str, signature: Signature, reason: str, wall: float
    ) -> None:
        why = f"never completed: {reason}"
        file_id = self.ledger.quarantine_new(key[0], pkey, key[1], signature, why, wall)
        self.audit.append("quarantined", file=file_id, reason=why)
        log.warning("quarantined an incomplete file", path=short_hash(pkey), reason=reason)
        del self._pending[key]

    @property
    def pending_count(self) -> int:
        return len(self._pending)


def _unchanged(entry: os.DirEntry[str], known: Signature) -> bool:
    """Whether a walked file is the version the ledger knows (True if it vanished meanwhile)."""
    try:
        return signature_of(entry.stat(follow_symlinks=False)) == known
    except OSError:
        return True


def _incomplete_reason(path: str, size: int) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        # Unreadable now (permissions): record it anyway; the worker retries reading it with
        # backoff and quarantines it with the reason if it never becomes readable.
        return None
    try:
        reason: str | None = check_complete(_Descriptor(fd), size)
        return reason
    except OSError:
        return None
    finally:
        os.close(fd)


class _Descriptor:
    """The seek and read ``check_complete`` needs, on a bare descriptor: opening a file object
    for every file of a catch-up costs more than the check of a small file itself. Reads are
    positioned (pread), so a seek to a known offset costs no system call."""

    __slots__ = ("fd", "pos")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pos = 0

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        if whence == os.SEEK_SET and offset >= 0:
            self.pos = offset
        else:
            self.pos = os.lseek(self.fd, offset, whence)
        return self.pos

    def read(self, size: int, /) -> bytes:
        data = os.pread(self.fd, size, self.pos)
        while 0 < len(data) < size:  # a short read is not the end of the file: read on, as
            more = os.pread(self.fd, size - len(data), self.pos + len(data))  # a file object would
            if not more:
                break
            data += more
        self.pos += len(data)
        return data


def _walk(root: Path) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Regular files under ``root`` with their relative paths, skipping ignored folders; no
    symlinks. Entries, not stats: a file the ledger does not know needs no stat here."""
    # Each folder travels with its path relative to ``root`` ("" or "a/b/"): building a file's
    # relative path by concatenation costs far less than Path(...).relative_to() per file.
    stack = [(os.fspath(root), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not is_ignored_dir(entry.name):
                        stack.append((entry.path, f"{prefix}{entry.name}/"))
                elif entry.is_file(follow_symlinks=False):
                    yield prefix + entry.name, entry
            except OSError:
                continue
