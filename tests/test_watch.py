"""The watcher with real inotify on real folders, driven tick by tick."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from picsync.audit import AuditLog
from picsync.config.models import DEFAULT_INCLUDE
from picsync.intake import Selection
from picsync.ledger import Ledger
from picsync.model import FileState
from picsync.naming import path_key
from picsync.watch import WatchedSource, Watcher, _Descriptor, _EventHandler
from tests.helpers import make_jpeg, wait_for


def make_watcher(tmp_path: Path, mode: str = "inotify", **kw: float) -> Watcher:
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    source = WatchedSource(
        name="cam",
        root=inbox,
        mode=mode,
        selection=Selection(DEFAULT_INCLUDE, []),
        quiet_closed=kw.get("quiet_closed", 0.1),
        quiet_unclosed=kw.get("quiet_unclosed", 0.3),
        max_wait=kw.get("max_wait", 60.0),
        scan_interval=kw.get("scan_interval", 3600.0),
    )
    return Watcher(
        {"cam": source},
        Ledger(tmp_path / "l.sqlite3"),
        b"k" * 32,
        AuditLog(tmp_path),
        lambda: None,
        threading.Event(),
    )


@pytest.fixture
def watcher(tmp_path: Path) -> Iterator[Watcher]:
    w = make_watcher(tmp_path)
    w.start()
    yield w
    w.close()


def ticks_until(watcher: Watcher, condition: object, timeout: float = 10.0) -> None:
    def step() -> bool:
        watcher.tick()
        return bool(condition())  # type: ignore[operator]

    wait_for(step, timeout, "the watcher", interval=0.05)


def counts(watcher: Watcher) -> dict[str, int]:
    return watcher.ledger.file_counts()


def test_catch_up_scan_finds_files_present_before_start(tmp_path: Path) -> None:
    w = make_watcher(tmp_path)
    (tmp_path / "inbox" / "sub").mkdir(parents=True)
    (tmp_path / "inbox" / "sub" / "old.jpg").write_bytes(make_jpeg(1))
    w.start()
    try:
        ticks_until(w, lambda: counts(w) == {"new": 1})
    finally:
        w.close()


def test_event_for_a_new_file(watcher: Watcher, tmp_path: Path) -> None:
    watcher.tick()  # the catch-up scan: nothing yet
    (tmp_path / "inbox" / "a.jpg").write_bytes(make_jpeg(2))
    ticks_until(watcher, lambda: counts(watcher) == {"new": 1})


def test_incomplete_file_waits_then_is_taken_when_complete(
    watcher: Watcher, tmp_path: Path
) -> None:
    data = make_jpeg(3)
    path = tmp_path / "inbox" / "scan.jpg"
    path.write_bytes(data[:-10])
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        watcher.tick()
        time.sleep(0.05)
    assert counts(watcher) == {}
    with open(path, "ab") as handle:
        handle.write(data[-10:])
    ticks_until(watcher, lambda: counts(watcher) == {"new": 1})


def test_file_that_never_completes_is_quarantined(tmp_path: Path) -> None:
    w = make_watcher(tmp_path, max_wait=0.5)
    w.start()
    try:
        (tmp_path / "inbox" / "broken.jpg").write_bytes(make_jpeg(4)[:200])
        ticks_until(w, lambda: counts(w) == {"quarantined": 1})
        (row,) = w.ledger.files_in_states(["quarantined"])
        assert row.rel_path == "broken.jpg"
        assert row.last_error is not None and row.last_error.startswith("never completed: JPEG")
    finally:
        w.close()


def test_temp_names_are_ignored_and_the_rename_is_taken(watcher: Watcher, tmp_path: Path) -> None:
    watcher.tick()
    temp = tmp_path / "inbox" / "IMG_1.JPG.part"
    temp.write_bytes(make_jpeg(5))
    (tmp_path / "inbox" / "Thumbs.db").write_bytes(b"x" * 100)
    time.sleep(0.5)
    watcher.tick()
    watcher.tick()
    assert counts(watcher) == {}
    temp.rename(tmp_path / "inbox" / "IMG_1.JPG")
    ticks_until(watcher, lambda: counts(watcher) == {"new": 1})


def test_deleted_before_ready_leaves_no_row(watcher: Watcher, tmp_path: Path) -> None:
    watcher.tick()
    path = tmp_path / "inbox" / "gone.jpg"
    path.write_bytes(make_jpeg(6))
    watcher.tick()
    path.unlink()
    for _ in range(10):
        watcher.tick()
        time.sleep(0.05)
    assert counts(watcher) == {}
    assert watcher.pending_count == 0


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(make_jpeg(7))
    w = make_watcher(tmp_path)
    (tmp_path / "inbox" / "link.jpg").symlink_to(outside / "secret.jpg")
    (tmp_path / "inbox" / "linkdir").symlink_to(outside, target_is_directory=True)
    w.start()
    try:
        for _ in range(10):
            w.tick()
            time.sleep(0.05)
        assert counts(w) == {}
    finally:
        w.close()


def test_overflow_log_line_triggers_a_rescan(tmp_path: Path) -> None:
    w = make_watcher(tmp_path)
    w.start()
    try:
        w.tick()
        assert w._observer is not None
        w._observer.stop()  # events are lost from here on, as in a queue overflow
        w._observer.join()
        w._observer = None
        (tmp_path / "inbox" / "lost.jpg").write_bytes(make_jpeg(8))
        for _ in range(5):
            w.tick()
            time.sleep(0.05)
        assert counts(w) == {}
        logging.getLogger("watchdog.observers.inotify_buffer").warning(
            "Inotify queue overflowed; filesystem events were lost"
        )
        ticks_until(w, lambda: counts(w) == {"new": 1})
    finally:
        w.close()


def test_dead_observer_is_restarted_and_the_folder_rescanned(tmp_path: Path) -> None:
    w = make_watcher(tmp_path)
    w.start()
    try:
        w.tick()
        assert w._observer is not None
        w._observer.stop()
        w._observer.join()
        (tmp_path / "inbox" / "while_dead.jpg").write_bytes(make_jpeg(9))
        ticks_until(w, lambda: counts(w) == {"new": 1})
        assert w._observer.is_alive()
        (tmp_path / "inbox" / "after.jpg").write_bytes(make_jpeg(10))
        ticks_until(w, lambda: counts(w) == {"new": 2})
    finally:
        w.close()


def test_handler_never_raises() -> None:
    inbox: queue.SimpleQueue[tuple[str, str, bool]] = queue.SimpleQueue()
    handler = _EventHandler("cam", inbox)
    handler.dispatch(object())  # type: ignore[arg-type]
    assert inbox.empty()


def test_polled_source_is_scanned_on_a_timer(tmp_path: Path) -> None:
    w = make_watcher(tmp_path, mode="poll", scan_interval=0.2)
    w.start()
    try:
        assert w._observer is None
        w.tick()
        (tmp_path / "inbox" / "from_smb.jpg").write_bytes(make_jpeg(11))
        ticks_until(w, lambda: counts(w) == {"new": 1})
    finally:
        w.close()


def test_rewritten_file_is_a_new_version(watcher: Watcher, tmp_path: Path) -> None:
    path = tmp_path / "inbox" / "a.jpg"
    path.write_bytes(make_jpeg(12))
    ticks_until(watcher, lambda: counts(watcher) == {"new": 1})
    (job,) = [watcher.ledger.claim_prepare(time.time() + 1, ["cam"])]
    assert job is not None
    watcher.ledger.finish_file(job.file_id, FileState.DONE, None, 0)
    os.utime(path, ns=(1, 1))
    path.write_bytes(make_jpeg(13))
    ticks_until(watcher, lambda: counts(watcher) == {"done": 1, "new": 1})


def test_scanned_and_event_files_are_recorded_under_their_own_path_keys(
    watcher: Watcher, tmp_path: Path
) -> None:
    # Found by the scan, the key travels from scan to settle; found by an event, settle makes it.
    (tmp_path / "inbox" / "day").mkdir()
    (tmp_path / "inbox" / "day" / "scanned.jpg").write_bytes(make_jpeg(14))
    watcher.tick()
    (tmp_path / "inbox" / "evented.jpg").write_bytes(make_jpeg(15))
    ticks_until(watcher, lambda: counts(watcher) == {"new": 2})
    keys = set(watcher.ledger.known_signatures("cam"))
    assert keys == {path_key(b"k" * 32, "cam", rel) for rel in ("day/scanned.jpg", "evented.jpg")}


def test_a_catch_up_records_each_complete_file_once_and_a_rescan_only_changes(
    tmp_path: Path,
) -> None:
    w = make_watcher(tmp_path)
    inbox = tmp_path / "inbox"
    for folder in range(3):
        (inbox / f"d{folder}").mkdir()
        for index in range(20):
            (inbox / f"d{folder}" / f"IMG_{index}.JPG").write_bytes(make_jpeg(100 + index))
    (inbox / "d0" / "cut.jpg").write_bytes(make_jpeg(99)[:-2])  # no EOI: waits, not recorded
    (inbox / "d1" / "notes.txt").write_bytes(b"not an image")
    source = w.sources["cam"]
    try:
        assert w.scan(source) == 61
        ticks_until(w, lambda: counts(w) == {"new": 60})
        assert w.pending_count == 1  # the cut file, still waiting for its end
        assert w.scan(source) == 0  # recorded versions and the pending file: nothing new
        rewritten = inbox / "d2" / "IMG_3.JPG"
        rewritten.write_bytes(make_jpeg(500, size=24))  # a new version of one file
        assert w.scan(source) == 1
        # Not yet taken by a worker, the row takes the new version in place.
        key = path_key(b"k" * 32, "cam", "d2/IMG_3.JPG")
        ticks_until(
            w, lambda: w.ledger.known_signatures("cam")[key].size == len(rewritten.read_bytes())
        )
        assert counts(w) == {"new": 60}
    finally:
        w.close()


def test_descriptor_seeks_and_reads_like_a_file_object(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"abcdef")
    fd = os.open(path, os.O_RDONLY)
    try:
        descriptor = _Descriptor(fd)
        assert descriptor.seek(0, os.SEEK_END) == 6
        assert descriptor.seek(2) == 2
        assert descriptor.read(3) == b"cde"
        assert descriptor.read(3) == b"f"  # short only at the end of the file
        assert descriptor.read(3) == b""
        assert descriptor.seek(-2, os.SEEK_END) == 4
        assert descriptor.read(2) == b"ef"
    finally:
        os.close(fd)
