"""The Dropbox emulator under HTTP faults, size and quota limits and write contention (real SDK)."""

from __future__ import annotations

import threading
import time

import dropbox
import pytest
import requests
from dropbox import files
from dropbox.exceptions import (
    ApiError,
    InternalServerError,
    RateLimitError,
)

from . import fixtures
from .dropbox import DropboxEmulator
from .dropbox_wire import rate_limit_fault, server_error_fault
from .faults import Fault
from .fixtures import DropboxFactory

loopback_tls = fixtures.loopback_tls
dropbox_emulator = fixtures.dropbox_emulator
dropbox_client = fixtures.dropbox_client

UPLOAD = r"/2/files/upload$"


# ---- HTTP-level faults ---------------------------------------------------------------------


@pytest.mark.parametrize(("json_body", "retry_after"), [(True, 7), (False, 3)])
def test_429_surfaces_as_rate_limit_error_with_the_retry_after_as_backoff(
    dropbox_emulator: DropboxEmulator,
    dropbox_client: DropboxFactory,
    json_body: bool,
    retry_after: int,
) -> None:
    dropbox_emulator.add_fault(
        rate_limit_fault(UPLOAD, retry_after=retry_after, json_body=json_body)
    )

    with pytest.raises(RateLimitError) as raised:
        dropbox_client().files_upload(b"x", "/a.age")

    assert raised.value.backoff == retry_after
    if json_body:
        assert raised.value.error.reason.is_too_many_requests()
    assert dropbox_emulator.files() == {}


def test_the_sdk_waits_at_least_retry_after_before_retrying(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dropbox_emulator.add_fault(rate_limit_fault(UPLOAD, retry_after=1))

    dropbox_client(max_retries_on_rate_limit=1).files_upload(b"x", "/a.age")

    refused, accepted = dropbox_emulator.requests("files/upload")
    assert (refused.status, accepted.status) == (429, 200)
    assert refused.responded_at is not None
    assert accepted.received_at - refused.responded_at >= 1.0
    assert dropbox_emulator.files() == {"/a.age": b"x"}


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_surface_and_are_consumed_in_order(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory, status: int
) -> None:
    dropbox_emulator.add_fault(server_error_fault(UPLOAD, status=status))
    dbx = dropbox_client()

    with pytest.raises(InternalServerError) as raised:
        dbx.files_upload(b"x", "/a.age")
    dbx.files_upload(b"x", "/a.age")  # the fault was used up

    assert raised.value.status_code == status
    assert [r.status for r in dropbox_emulator.requests("files/upload")] == [status, 200]


def test_a_server_error_after_commit_leaves_the_file_stored(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dropbox_emulator.add_fault(server_error_fault(UPLOAD, commit=True))

    with pytest.raises(InternalServerError):
        dropbox_client().files_upload(b"stored anyway", "/a.age")

    assert dropbox_emulator.files() == {"/a.age": b"stored anyway"}


def test_a_reset_mid_body_is_a_connection_error_and_stores_nothing(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dropbox_emulator.add_fault(Fault(path=UPLOAD, drop_after_request_bytes=1000))

    with pytest.raises(requests.exceptions.ConnectionError):
        dropbox_client().files_upload(b"z" * 256_000, "/a.age")

    (record,) = dropbox_emulator.requests("files/upload")
    assert (record.outcome, record.body_length, record.body_complete) == (
        "dropped_mid_body",
        1000,
        False,
    )
    assert dropbox_emulator.files() == {}


def test_a_stall_past_the_client_timeout_is_a_read_timeout(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dropbox_emulator.add_fault(Fault(path=UPLOAD, stall=True))

    with pytest.raises(requests.exceptions.ReadTimeout):
        dropbox_client(timeout=0.3).files_upload(b"x", "/a.age")

    assert dropbox_emulator.requests("files/upload")[0].outcome == "stalled"
    assert dropbox_emulator.files() == {}


def test_commit_then_drop_stores_the_file_and_a_same_bytes_retry_is_a_no_op(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dropbox_emulator.add_fault(Fault(path=UPLOAD, drop_after_commit=True))
    dbx = dropbox_client()

    with pytest.raises(requests.exceptions.ConnectionError):
        dbx.files_upload(b"ambiguous", "/a.age")
    stored = dict(dropbox_emulator.files())
    retried = dbx.files_upload(b"ambiguous", "/a.age")

    assert stored == {"/a.age": b"ambiguous"}
    assert retried.content_hash == dropbox_emulator.commits()[0].content_hash
    assert dropbox_emulator.count_writes() == 1


def test_a_truncated_response_breaks_the_read_after_the_commit(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dropbox_emulator.add_fault(Fault(path=UPLOAD, truncate_response=10))

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        dropbox_client().files_upload(b"x", "/a.age")

    assert dropbox_emulator.files() == {"/a.age": b"x"}


def test_offline_resets_every_call_until_switched_back(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dbx = dropbox_client()
    dbx.users_get_current_account()
    dropbox_emulator.set_offline()

    with pytest.raises(requests.exceptions.ConnectionError):
        dbx.files_upload(b"x", "/a.age")
    dropbox_emulator.set_offline(False)
    dbx.files_upload(b"x", "/a.age")

    assert [r.outcome for r in dropbox_emulator.requests("files/upload")] == [
        "offline",
        "responded",
    ]


# ---- payload, hash, quota ------------------------------------------------------------------


def test_payload_over_the_limit_is_payload_too_large(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dropbox_emulator.set_payload_limit(1024)
    dbx = dropbox_client()

    with pytest.raises(ApiError) as single:
        dbx.files_upload(b"x" * 1025, "/a.age")
    session = dbx.files_upload_session_start(b"x" * 1024)
    with pytest.raises(ApiError) as append:
        dbx.files_upload_session_append_v2(
            b"y" * 2048, files.UploadSessionCursor(session.session_id, 1024)
        )

    assert single.value.error.is_payload_too_large()
    assert append.value.error.is_payload_too_large()


def test_a_wrong_content_hash_is_content_hash_mismatch(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    with pytest.raises(ApiError) as raised:
        dropbox_client().files_upload(b"real bytes", "/a.age", content_hash="0" * 64)

    assert raised.value.error.is_content_hash_mismatch()
    assert dropbox_emulator.files() == {}


def test_quota_refuses_growth_with_insufficient_space(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dropbox_emulator.set_quota(100)
    dbx = dropbox_client()
    dbx.files_upload(b"a" * 60, "/a.age")

    with pytest.raises(ApiError) as raised:
        dbx.files_upload(b"b" * 60, "/b.age")
    dbx.files_upload(
        b"c" * 90, "/a.age", mode=files.WriteMode.overwrite
    )  # shrinks nothing past 100

    assert raised.value.error.get_path().reason.is_insufficient_space()
    assert dropbox_emulator.files() == {"/a.age": b"c" * 90}


# ---- namespace write-lock contention -------------------------------------------------------


def _upload_in_thread(
    dbx: dropbox.Dropbox, data: bytes, path: str
) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(dbx.files_upload(data, path))
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_contention_429_form_is_a_rate_limit_error_for_the_second_writer(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dropbox_emulator.set_write_lock_limit(1, "429", retry_after=2)
    with dropbox_emulator.hold_writes():
        holder, outcome = _upload_in_thread(dropbox_client(), b"first", "/one.age")
        assert dropbox_emulator.wait_for_writes_in_flight(1)
        with pytest.raises(RateLimitError) as raised:
            dropbox_client().files_upload(b"second", "/two.age")
    holder.join(10)

    assert raised.value.error.reason.is_too_many_write_operations()
    assert raised.value.backoff == 2
    assert isinstance(outcome[0], files.FileMetadata)
    assert dropbox_emulator.files() == {"/one.age": b"first"}


def test_contention_409_form_is_a_route_error_the_sdk_does_not_retry(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dropbox_emulator.set_write_lock_limit(1, "409")
    dbx = dropbox_client()
    session = dbx.files_upload_session_start(b"abc", close=True)
    with dropbox_emulator.hold_writes():
        holder, _ = _upload_in_thread(dropbox_client(), b"first", "/one.age")
        assert dropbox_emulator.wait_for_writes_in_flight(1)
        with pytest.raises(ApiError) as upload:
            dbx.files_upload(b"second", "/two.age")
        with pytest.raises(ApiError) as finish:
            cursor = files.UploadSessionCursor(session.session_id, 3)
            dbx.files_upload_session_finish(b"", cursor, files.CommitInfo("/three.age"))
    holder.join(10)

    assert upload.value.error.get_path().reason.is_too_many_write_operations()
    assert finish.value.error.is_too_many_write_operations()
    assert len(dropbox_emulator.requests("files/upload", status=409)) == 1


def test_concurrent_uploads_under_contention_all_land_exactly_once(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dropbox_emulator.set_write_lock_limit(1, "429", retry_after=0)
    blobs = {f"/c/{n}.age": bytes([n]) * 100 for n in range(4)}
    with dropbox_emulator.hold_writes():
        workers = [
            _upload_in_thread(dropbox_client(max_retries_on_rate_limit=None), data, path)
            for path, data in blobs.items()
        ]
        assert dropbox_emulator.wait_for_writes_in_flight(1)
        deadline = time.monotonic() + 10
        while len(dropbox_emulator.requests(status=429)) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    for thread, _ in workers:
        thread.join(10)

    assert all(isinstance(outcome[0], files.FileMetadata) for _, outcome in workers)
    assert dropbox_emulator.files() == blobs
    assert dropbox_emulator.count_writes() == 4
    assert len(dropbox_emulator.requests(status=429)) >= 3
