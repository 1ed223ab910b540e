"""The ledger on real SQLite files: discovery, claims, recovery, dead letters, versions."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from picsync.ledger import (
    _SCHEMA,
    SCHEMA_VERSION,
    Discovery,
    DuplicateContentError,
    Ledger,
    LedgerVersionError,
    NewDelivery,
)
from picsync.model import FileState, Payload, RemoteFile, Signature

SIG = Signature(dev=1, ino=10, size=100, mtime_ns=5)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger.sqlite3")


def spool(ledger: Ledger, file_id: int, sha: str, dests: tuple[str, ...] = ("a",)) -> None:
    ledger.spooled(
        file_id,
        sha,
        f"rid{file_id}",
        [Payload(f"rid{file_id}.image", ".jpg", 10, "c" * 64)],
        [NewDelivery(d, f"st/{file_id}") for d in dests],
        now=1.0,
    )


def test_pragmas_and_schema_version(ledger: Ledger) -> None:
    conn = sqlite3.connect(ledger.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert ledger._conn().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert ledger.integrity_ok()


def test_version_1_ledger_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(_SCHEMA)
    conn.execute(
        "INSERT INTO files (source, path_key, rel_path, dev, ino, size, mtime_ns, state, "
        "discovered_at) VALUES ('cam', 'k', 'a.jpg', 1, 2, 3, 4, 'new', 0)"
    )
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    ledger = Ledger(path)
    assert ledger.file_counts() == {"new": 1}
    columns = {row[1] for row in ledger._conn().execute("PRAGMA table_info(payloads)")}
    assert {"kind", "audience"} <= columns
    assert ledger._conn().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    Ledger(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(LedgerVersionError, match="upgrade picsync"):
        Ledger(path)


def test_same_version_of_a_path_is_discovered_once(ledger: Ledger) -> None:
    first = ledger.discover("cam", "k1", "a.jpg", SIG, now=1.0)
    assert first is not None
    assert ledger.discover("cam", "k1", "a.jpg", SIG, now=2.0) is None
    changed = Signature(dev=1, ino=10, size=200, mtime_ns=6)
    # Not yet prepared: the newer version replaces the row instead of adding one.
    assert ledger.discover("cam", "k1", "a.jpg", changed, now=3.0) == first
    assert ledger.file_counts() == {"new": 1}


def test_new_version_after_done_is_a_new_file(ledger: Ledger) -> None:
    first = ledger.discover("cam", "k1", "a.jpg", SIG, now=1.0)
    assert first is not None
    job = ledger.claim_prepare(2.0, ["cam"])
    assert job is not None and job.path_key == "k1"
    spool(ledger, first, "a" * 64)
    delivery = ledger.claim_delivery(3.0, ["a"])
    assert delivery is not None
    assert ledger.delivered(delivery.delivery_id, [RemoteFile("st/1.jpg", 10, "f")], 4.0)
    assert ledger.known_signatures("cam") == {"k1": SIG}
    changed = Signature(dev=1, ino=11, size=300, mtime_ns=9)
    second = ledger.discover("cam", "k1", "a.jpg", changed, now=6.0)
    assert second is not None and second != first


def test_done_file_forgets_its_path(ledger: Ledger) -> None:
    file_id = ledger.discover("cam", "k1", "Smith_John.jpg", SIG, now=1.0)
    assert file_id is not None
    ledger.claim_prepare(2.0, ["cam"])
    spool(ledger, file_id, "a" * 64)
    delivery = ledger.claim_delivery(3.0, ["a"])
    assert delivery is not None
    ledger.delivered(delivery.delivery_id, [RemoteFile("st/1.jpg", 10, "f")], 4.0)
    disposal = ledger.claim_disposal(5.0, ["cam"])
    assert disposal is not None and disposal.rel_path == "Smith_John.jpg"
    ledger.disposed(disposal.file_id, "kept", 6.0)
    rows = sqlite3.connect(ledger.path).execute("SELECT rel_path, disposition FROM files")
    assert rows.fetchall() == [(None, "kept")]


def test_same_content_is_recorded_as_duplicate(ledger: Ledger) -> None:
    a = ledger.discover("cam", "k1", "a.jpg", SIG, now=1.0)
    b = ledger.discover("cam", "k2", "copy-of-a.jpg", Signature(1, 11, 100, 5), now=1.0)
    assert a is not None and b is not None
    ledger.claim_prepare(2.0, ["cam"])
    spool(ledger, a, "a" * 64)
    assert ledger.content_owner("cam", "a" * 64) == a
    ledger.claim_prepare(2.0, ["cam"])
    with pytest.raises(DuplicateContentError):
        spool(ledger, b, "a" * 64)
    ledger.mark_duplicate(b, "a" * 64, a, 3.0)
    assert ledger.file_counts() == {"spooled": 1, "duplicate": 1}
    # Another source may hold the same bytes: duplicates are per source.
    c = ledger.discover("scanner", "k3", "a.jpg", SIG, now=1.0)
    assert c is not None
    ledger.claim_prepare(2.0, ["scanner"])
    spool(ledger, c, "a" * 64)


def test_claims_are_exclusive_across_threads(ledger: Ledger) -> None:
    ids = ledger.discover_many(
        [Discovery("cam", f"k{i}", f"{i}.jpg", Signature(1, i, 1, 1)) for i in range(200)], 1.0
    )
    assert all(i is not None for i in ids)
    claimed: list[int] = []
    lock = threading.Lock()

    def grab() -> None:
        while (job := ledger.claim_prepare(2.0, ["cam"])) is not None:
            with lock:
                claimed.append(job.file_id)

    threads = [threading.Thread(target=grab) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(i for i in ids if i is not None)


def test_not_before_is_respected(ledger: Ledger) -> None:
    file_id = ledger.discover("cam", "k1", "a.jpg", SIG, now=1.0)
    assert file_id is not None
    ledger.claim_prepare(1.0, ["cam"])
    ledger.retry_prepare(file_id, 100.0, "Permission denied (errno 13)")
    assert ledger.claim_prepare(99.0, ["cam"]) is None
    assert ledger.next_due(["cam"], []) == 100.0
    job = ledger.claim_prepare(100.0, ["cam"])
    assert job is not None and job.attempts == 1


def test_recover_puts_interrupted_work_back(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite3")
    a = ledger.discover("cam", "k1", "a.jpg", SIG, now=1.0)
    b = ledger.discover("cam", "k2", "b.jpg", Signature(1, 2, 3, 4), now=1.0)
    assert a is not None and b is not None
    ledger.claim_prepare(2.0, ["cam"])  # a: preparing
    ledger.claim_prepare(2.0, ["cam"])  # b: preparing
    spool(ledger, b, "b" * 64)
    assert ledger.claim_delivery(3.0, ["a"]) is not None  # running
    ledger.close()  # the process "dies" here
    reopened = Ledger(tmp_path / "l.sqlite3")
    assert reopened.recover() == (1, 1)
    assert reopened.file_counts() == {"new": 1, "spooled": 1}
    assert reopened.delivery_counts() == {"a": {"pending": 1}}


def test_dead_deliveries_revive(ledger: Ledger) -> None:
    file_id = ledger.discover("cam", "k1", "a.jpg", SIG, now=1.0)
    assert file_id is not None
    ledger.claim_prepare(1.0, ["cam"])
    spool(ledger, file_id, "a" * 64, dests=("a", "b"))
    job = ledger.claim_delivery(2.0, ["a"])
    assert job is not None
    ledger.bury_delivery(job.delivery_id, "gave up after 5 attempts: 503")
    assert ledger.delivery_counts() == {"a": {"dead": 1}, "b": {"pending": 1}}
    assert ledger.last_errors()[0][3] == "gave up after 5 attempts: 503"
    assert ledger.revive_dead(3.0) == 1
    again = ledger.claim_delivery(3.0, ["a"])
    assert again is not None and again.attempts == 0


def test_paused_destination_is_skipped(ledger: Ledger) -> None:
    file_id = ledger.discover("cam", "k1", "a.jpg", SIG, now=1.0)
    assert file_id is not None
    ledger.claim_prepare(1.0, ["cam"])
    spool(ledger, file_id, "a" * 64, dests=("a", "b"))
    ledger.pause_destination("a", until=50.0, reason="token revoked")
    job = ledger.claim_delivery(2.0, ["a", "b"])
    assert job is not None and job.destination == "b"
    assert ledger.claim_delivery(2.0, ["a", "b"]) is None
    assert ledger.claim_delivery(51.0, ["a", "b"]) is not None


def test_last_delivery_completes_the_file(ledger: Ledger) -> None:
    file_id = ledger.discover("cam", "k1", "a.jpg", SIG, now=1.0)
    assert file_id is not None
    ledger.claim_prepare(1.0, ["cam"])
    spool(ledger, file_id, "a" * 64, dests=("a", "b"))
    assert ledger.live_spool_names() == {f"rid{file_id}.image"}
    first = ledger.claim_delivery(2.0, ["a", "b"])
    second = ledger.claim_delivery(2.0, ["a", "b"])
    assert first is not None and second is not None
    assert ledger.delivered(first.delivery_id, [RemoteFile("x.jpg", 10, "f")], 3.0) == []
    assert ledger.delivered(second.delivery_id, [RemoteFile("x.jpg", 10, "f")], 3.0) == [
        f"rid{file_id}.image"
    ]
    assert ledger.file_counts() == {"delivered": 1}
    assert ledger.claim_disposal(3.0, ["other-source"]) is None
    disposal = ledger.claim_disposal(3.0, ["cam"])
    assert disposal is not None and disposal.delivered_at == 3.0
    assert ledger.claim_disposal(3.0, ["cam"]) is None  # claimed once
    ledger.postpone_disposal(disposal.file_id, 10.0, "Permission denied (errno 13)")
    assert ledger.claim_disposal(9.0, ["cam"]) is None
    again = ledger.claim_disposal(10.0, ["cam"])
    assert again is not None
    assert ledger.recover() == (1, 0)  # disposing goes back to delivered at start-up
    assert ledger.file_counts() == {"delivered": 1}
    assert ledger.live_spool_names() == set()


def test_a_kept_file_ends_with_its_last_delivery(ledger: Ledger) -> None:
    file_id = ledger.discover("cam", "k1", "a.jpg", SIG, now=1.0)
    assert file_id is not None
    ledger.claim_prepare(1.0, ["cam"])
    spool(ledger, file_id, "a" * 64, dests=("a", "b"))
    first = ledger.claim_delivery(2.0, ["a", "b"])
    second = ledger.claim_delivery(2.0, ["a", "b"])
    assert first is not None and second is not None
    # The other delivery is still open, and a source that moves its files never qualifies.
    assert not ledger.finishes_a_kept_file(first.delivery_id, ["cam"])
    ledger.delivered(first.delivery_id, [RemoteFile("x.jpg", 10, "f")], 3.0)
    assert not ledger.finishes_a_kept_file(second.delivery_id, ["elsewhere"])
    assert ledger.finishes_a_kept_file(second.delivery_id, ["cam"])
    spool_names = ledger.delivered(
        second.delivery_id, [RemoteFile("x.jpg", 10, "f")], 3.0, kept=True
    )
    assert spool_names == [f"rid{file_id}.image"]
    assert ledger.file_counts() == {"done": 1}
    assert ledger.claim_disposal(3.0, ["cam"]) is None  # nothing left to dispose of
    with sqlite3.connect(ledger.path) as conn:
        row = conn.execute("SELECT rel_path, disposition FROM files WHERE id=?", (file_id,))
        assert row.fetchone() == (None, "kept")


def test_a_block_lasts_past_its_pause_until_a_delivery_succeeds(ledger: Ledger) -> None:
    file_id = ledger.discover("cam", "k1", "a.jpg", SIG, now=1.0)
    assert file_id is not None
    ledger.claim_prepare(1.0, ["cam"])
    spool(ledger, file_id, "a" * 64, dests=("a",))
    ledger.pause_destination("a", 5.0, "the destination folder is missing")
    assert ledger.claim_delivery(4.0, ["a"]) is None  # paused
    job = ledger.claim_delivery(6.0, ["a"])  # the pause is over: one delivery probes
    assert job is not None
    assert ledger.pauses(6.0) == {}
    assert ledger.blocked() == {"a": "the destination folder is missing"}  # still one incident
    ledger.delivered(job.delivery_id, [RemoteFile("x.jpg", 10, "f")], 7.0)
    assert ledger.blocked() == {}


def test_quarantine_keeps_the_path_for_the_operator(ledger: Ledger) -> None:
    file_id = ledger.quarantine_new("cam", "k1", "scan.pdf", SIG, "never completed", 1.0)
    rows = ledger.files_in_states(["quarantined"])
    assert [(r.id, r.rel_path, r.last_error) for r in rows] == [
        (file_id, "scan.pdf", "never completed")
    ]
    assert ledger.known_signatures("cam") == {"k1": SIG}
    other = ledger.discover("cam", "k2", "x.jpg", SIG, now=1.0)
    assert other is not None
    ledger.claim_prepare(1.0, ["cam"])
    ledger.finish_file(other, FileState.VANISHED, "gone", 2.0)
    assert ledger.files_in_states(["vanished"])[0].rel_path is None


def test_upload_state_and_cache_survive_reopening(tmp_path: Path) -> None:
    from picsync.ledger import DestinationCache, UploadStateSlot

    ledger = Ledger(tmp_path / "l.sqlite3")
    file_id = ledger.discover("cam", "k1", "a.jpg", SIG, now=1.0)
    assert file_id is not None
    ledger.claim_prepare(1.0, ["cam"])
    spool(ledger, file_id, "a" * 64)
    job = ledger.claim_delivery(2.0, ["a"])
    assert job is not None
    slot = UploadStateSlot(ledger, job.delivery_id, "st/1.jpg.age")
    slot.save('{"session": "s1", "offset": 8388608}')
    DestinationCache(ledger, "a").put("folder:/st/2026", "12345")
    ledger.close()
    reopened = Ledger(tmp_path / "l.sqlite3")
    assert UploadStateSlot(reopened, job.delivery_id, "st/1.jpg.age").load() == (
        '{"session": "s1", "offset": 8388608}'
    )
    assert DestinationCache(reopened, "a").get("folder:/st/2026") == "12345"
    assert DestinationCache(reopened, "b").get("folder:/st/2026") is None
    reopened.delivered(job.delivery_id, [RemoteFile("st/1.jpg.age", 10, "f")], 3.0)
    assert UploadStateSlot(reopened, job.delivery_id, "st/1.jpg.age").load() is None


def test_a_batch_sees_earlier_rows_and_its_own_entries(ledger: Ledger) -> None:
    known = ledger.discover("cam", "k1", "a.jpg", SIG, now=1.0)
    moved = Signature(dev=1, ino=11, size=200, mtime_ns=6)
    ids = ledger.discover_many(
        [
            Discovery("cam", "k1", "a.jpg", SIG),  # the version already recorded
            Discovery("cam", "k2", "b.jpg", SIG),  # new
            Discovery("cam", "k2", "b.jpg", SIG),  # the same again in the same batch
            Discovery("cam", "k1", "a.jpg", moved),  # rewritten before it was taken
            Discovery("other", "k2", "b.jpg", SIG),  # same key, another source
        ],
        now=2.0,
    )
    assert ids[0] is None and ids[2] is None
    assert ids[1] is not None and ids[4] is not None and ids[1] != ids[4]
    assert ids[3] == known  # taken in place: still new, now the newer version
    assert ledger.file_counts() == {"new": 3}
    assert ledger.known_signatures("cam") == {"k1": moved, "k2": SIG}
