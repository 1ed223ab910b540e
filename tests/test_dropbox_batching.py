"""Commit batching: concurrent uploads commit together, one batch at a time, so the namespace
write lock never answers too_many_write_operations to our own writes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from dropbox import files
from dropbox.exceptions import ApiError, RateLimitError

from picsync.destinations.dropbox_batch import Commit, CommitBatcher, finish_batch
from picsync.destinations.dropbox_errors import error_tags, translate
from picsync.errors import TransientError
from tests import test_dropbox_destination as base
from tests.emulators.dropbox import DropboxEmulator
from tests.emulators.fixtures import DropboxFactory
from tests.helpers import wait_for
from tests.test_dropbox_destination import (
    CHUNK,
    ROOT,
    DestinationFactory,
    MemoryResume,
    random_bytes,
    spooled,
)

make_dest = base.make_dest


def run_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(work, range(count)))


# ---- the batcher on its own (a plain function as the sender) -------------------------------


class RecordingSender:
    """Answers every commit with its session id and remembers each batch."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def __call__(self, commits: Sequence[Commit]) -> list[Any]:
        self.batches.append([c.session_id for c in commits])
        return [f"stored {c.session_id}" for c in commits]


def test_uploads_in_flight_commit_in_one_batch_without_waiting_for_the_linger() -> None:
    sender = RecordingSender()
    batcher = CommitBatcher(sender, linger=3600)  # a linger would hang the test
    registered = threading.Barrier(8)

    def upload(i: int) -> Any:
        with batcher.uploading(expected=True) as ticket:
            registered.wait()  # all eight are in flight before the first commits
            return batcher.commit(ticket, Commit(f"s{i}", 10, f"/p/{i}"))

    outcomes = run_threads(8, upload)

    assert outcomes == [f"stored s{i}" for i in range(8)]
    assert len(sender.batches) == 1
    assert sorted(sender.batches[0]) == [f"s{i}" for i in range(8)]


def test_a_lone_commit_is_sent_at_once() -> None:
    sender = RecordingSender()
    batcher = CommitBatcher(sender, linger=3600)
    done: list[Any] = []

    def upload() -> None:
        with batcher.uploading(expected=False) as ticket:
            done.append(batcher.commit(ticket, Commit("large", 10, "/p")))

    thread = threading.Thread(target=upload, daemon=True)
    thread.start()
    thread.join(timeout=60)

    assert done == ["stored large"]


def test_an_upload_that_fails_before_its_commit_does_not_hold_the_batch() -> None:
    sender = RecordingSender()
    batcher = CommitBatcher(sender, linger=3600)
    both_in_flight = threading.Barrier(2)

    def failing() -> None:
        with batcher.uploading(expected=True):
            both_in_flight.wait()
            raise TransientError("the session start failed")

    def succeeding() -> Any:
        with batcher.uploading(expected=True) as ticket:
            both_in_flight.wait()
            return batcher.commit(ticket, Commit("ok", 1, "/p"))

    with ThreadPoolExecutor(2) as pool:
        failed = pool.submit(failing)
        succeeded = pool.submit(succeeding)
        assert succeeded.result(timeout=60) == "stored ok"
        with pytest.raises(TransientError):
            failed.result(timeout=60)


def test_a_sender_that_breaks_releases_every_waiter() -> None:
    def broken(commits: Sequence[Commit]) -> list[Any]:
        raise RuntimeError("bug")

    batcher = CommitBatcher(broken, linger=3600)
    registered = threading.Barrier(3)

    def upload(i: int) -> Any:
        with batcher.uploading(expected=True) as ticket:
            registered.wait()
            try:
                return batcher.commit(ticket, Commit(f"s{i}", 1, "/p"))
            except RuntimeError as exc:
                return exc

    outcomes = run_threads(3, upload)

    assert sum(isinstance(o, RuntimeError) for o in outcomes) == 1  # the leader's own
    assert sum(isinstance(o, TransientError) for o in outcomes) == 2


# ---- finish_batch against the emulator -----------------------------------------------------


def test_each_batch_entry_gets_its_own_outcome(
    dropbox_client: DropboxFactory, dropbox_emulator: DropboxEmulator
) -> None:
    client = dropbox_client()
    client.files_upload(b"already here", "/p/taken.age")
    sessions = [
        client.files_upload_session_start(data, close=True).session_id
        for data in (b"fine", b"different")
    ]
    commits = [
        Commit(sessions[0], 4, "/p/fine.age"),
        Commit(sessions[1], 9, "/p/taken.age"),
        Commit("AAAAAnot-a-session", 3, "/p/lost.age"),
    ]

    fine, taken, lost = finish_batch(client, commits, lambda: translate("dbx"))

    assert isinstance(fine, files.FileMetadata) and fine.size == 4
    assert isinstance(taken, ApiError)
    assert error_tags(taken.error) == ("path", "conflict", "file")
    assert isinstance(lost, ApiError)
    assert error_tags(lost.error) == ("lookup_failed", "not_found")
    assert len(dropbox_emulator.requests("files/upload_session/finish_batch_v2")) == 1


@pytest.mark.parametrize("form", ["429", "409"])
def test_a_contended_batch_waits_and_is_sent_again(
    make_dest: DestinationFactory,
    dropbox_client: DropboxFactory,
    dropbox_emulator: DropboxEmulator,
    tmp_path: Path,
    form: str,
) -> None:
    """Another client holds the namespace write lock while our batch commits."""
    dropbox_emulator.set_write_lock_limit(1, form=form, retry_after=1)  # type: ignore[arg-type]
    foreign = dropbox_client()
    data = random_bytes(2 * CHUNK)
    dest = make_dest()
    with dropbox_emulator.hold_writes():
        other = threading.Thread(target=lambda: foreign.files_upload(b"x", "/elsewhere/x"))
        other.start()
        assert dropbox_emulator.wait_for_writes_in_flight(1)
        ours = threading.Thread(
            target=lambda: dest.upload("st/big.age", spooled(tmp_path, data), MemoryResume())
        )
        ours.start()
        wait_for(
            lambda: bool(dropbox_emulator.requests("files/upload_session/finish_batch_v2")),
            30,
            "our first batch",
        )
    other.join(30)
    ours.join(30)

    first, second = dropbox_emulator.requests("files/upload_session/finish_batch_v2")
    assert first.status == (429 if form == "429" else 200)
    assert first.responded_at is not None
    assert second.received_at - first.responded_at >= 1.0  # waited at least Retry-After
    assert dropbox_emulator.files()[f"{ROOT}/st/big.age"] == data
    assert dropbox_emulator.count_writes(f"{ROOT}/st/big.age") == 1


# ---- many workers, one namespace -----------------------------------------------------------


def test_200_small_files_from_8_workers_never_contend_for_the_write_lock(
    make_dest: DestinationFactory, dropbox_emulator: DropboxEmulator, tmp_path: Path
) -> None:
    # One write at a time, each held a little: uncoordinated commits would collide.
    dropbox_emulator.set_write_lock_limit(1, retry_after=1, hold_seconds=0.01)
    dest = make_dest()
    payloads = {i: random_bytes(2000 + i, seed=i) for i in range(200)}

    def worker(w: int) -> None:
        for i in range(w, 200, 8):
            dest.upload(f"st/{i:03d}.age", spooled(tmp_path, payloads[i], f"{i}.age"))

    run_threads(8, worker)

    assert dropbox_emulator.locks.rejections == 0
    assert dropbox_emulator.requests(status=429) == []
    stored = dropbox_emulator.files()
    assert stored == {f"{ROOT}/st/{i:03d}.age": payloads[i] for i in range(200)}
    assert dropbox_emulator.count_writes() == 200
    commits = dropbox_emulator.requests("files/upload_session/finish_batch_v2")
    direct = dropbox_emulator.requests("files/upload")
    assert len(commits) + len(direct) < 100  # batched: far fewer commits than files
    assert max(len(c.arg["entries"]) for c in commits) > 1


def test_the_same_load_without_batching_does_contend(
    dropbox_client: DropboxFactory, dropbox_emulator: DropboxEmulator
) -> None:
    """Control for the test above: the emulator's write lock bites uncoordinated writers."""
    dropbox_emulator.set_write_lock_limit(1, retry_after=1, hold_seconds=0.01)
    client = dropbox_client()
    refused = []

    def worker(w: int) -> None:
        for i in range(w, 40, 8):
            try:
                client.files_upload(b"%d" % i, f"/picsync/st/{i:03d}.age")
            except RateLimitError:
                refused.append(i)

    run_threads(8, worker)

    assert refused
    assert dropbox_emulator.locks.rejections > 0
