"""Dropbox emulator upload sessions, proven with the real SDK: offsets, batches, file_transfer."""

from __future__ import annotations

import random

import dropbox
import pytest
from dropbox import files
from dropbox.content_hash import DropboxContentHasher
from dropbox.exceptions import ApiError

from . import fixtures
from .dropbox import DropboxEmulator
from .fixtures import DropboxFactory

loopback_tls = fixtures.loopback_tls
dropbox_emulator = fixtures.dropbox_emulator
dropbox_client = fixtures.dropbox_client


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def sdk_hash(data: bytes) -> str:
    hasher = DropboxContentHasher()
    hasher.update(data)
    return str(hasher.hexdigest())


def test_session_upload_in_appends_enforces_offsets_and_assembles_the_file(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dbx = dropbox_client()
    data = payload(3000)
    session = dbx.files_upload_session_start(data[:1000])
    dbx.files_upload_session_append_v2(
        data[1000:2000], files.UploadSessionCursor(session.session_id, 1000)
    )

    with pytest.raises(ApiError) as raised:  # a replayed append: the server is ahead
        dbx.files_upload_session_append_v2(
            data[1000:2000], files.UploadSessionCursor(session.session_id, 1000)
        )
    meta = dbx.files_upload_session_finish(
        data[2000:],
        files.UploadSessionCursor(session.session_id, 2000),
        files.CommitInfo("/s/big.age"),
    )

    assert raised.value.error.is_incorrect_offset()
    assert raised.value.error.get_incorrect_offset().correct_offset == 2000
    assert dropbox_emulator.files() == {"/s/big.age": data}
    assert meta.content_hash == sdk_hash(data)


def test_a_finished_session_is_gone(dropbox_client: DropboxFactory) -> None:
    dbx = dropbox_client()
    session = dbx.files_upload_session_start(b"abc", close=True)
    cursor = files.UploadSessionCursor(session.session_id, 3)
    dbx.files_upload_session_finish(b"", cursor, files.CommitInfo("/s/a.age"))

    with pytest.raises(ApiError) as raised:
        dbx.files_upload_session_finish(b"", cursor, files.CommitInfo("/s/a.age"))

    assert raised.value.error.get_lookup_failed().is_not_found()


def test_append_to_a_closed_session_is_closed_and_a_wrong_finish_offset_is_reported(
    dropbox_client: DropboxFactory,
) -> None:
    dbx = dropbox_client()
    session = dbx.files_upload_session_start(b"abc", close=True)

    with pytest.raises(ApiError) as appended:
        dbx.files_upload_session_append_v2(b"d", files.UploadSessionCursor(session.session_id, 3))
    with pytest.raises(ApiError) as finished:
        dbx.files_upload_session_finish(
            b"", files.UploadSessionCursor(session.session_id, 1), files.CommitInfo("/s/a.age")
        )

    assert appended.value.error.is_closed()
    lookup = finished.value.error.get_lookup_failed()
    assert lookup.is_incorrect_offset() and lookup.get_incorrect_offset().correct_offset == 3


def _closed_session(dbx: dropbox.Dropbox, data: bytes) -> files.UploadSessionCursor:
    session = dbx.files_upload_session_start(data, close=True)
    return files.UploadSessionCursor(session.session_id, len(data))


def test_finish_batch_v2_commits_closed_sessions_and_refuses_open_ones(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dbx = dropbox_client()
    blobs = [payload(100, n) for n in range(3)]
    entries = [
        files.UploadSessionFinishArg(_closed_session(dbx, blob), files.CommitInfo(f"/b/{n}.age"))
        for n, blob in enumerate(blobs)
    ]
    still_open = dbx.files_upload_session_start(b"open")
    entries.append(
        files.UploadSessionFinishArg(
            files.UploadSessionCursor(still_open.session_id, 4), files.CommitInfo("/b/open.age")
        )
    )

    result = dbx.files_upload_session_finish_batch_v2(entries)

    assert [e.is_success() for e in result.entries] == [True, True, True, False]
    assert result.entries[3].get_failure().get_lookup_failed().is_not_closed()
    assert dropbox_emulator.files() == {f"/b/{n}.age": blob for n, blob in enumerate(blobs)}


def test_finish_batch_v1_is_asynchronous_and_checkable(dropbox_client: DropboxFactory) -> None:
    dbx = dropbox_client()
    entry = files.UploadSessionFinishArg(_closed_session(dbx, b"x"), files.CommitInfo("/b/x.age"))

    with pytest.warns(DeprecationWarning):  # the SDK marks v1 deprecated; servers still serve it
        launch = dbx.files_upload_session_finish_batch([entry])
    first = dbx.files_upload_session_finish_batch_check(launch.get_async_job_id())
    second = dbx.files_upload_session_finish_batch_check(launch.get_async_job_id())

    assert first.is_in_progress()
    assert second.is_complete()
    assert second.get_complete().entries[0].get_success().path_lower == "/b/x.age"


def test_file_transfer_parallel_upload_uses_a_concurrent_session(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    from dropbox import file_transfer  # not imported by dropbox/__init__

    data = payload(file_transfer.UPLOAD_CHUNK_SIZE + 1000)
    uploader = file_transfer.Uploader(dropbox_client())

    result = uploader.upload(
        file_transfer.BytesUpload(data),
        files.CommitInfo("/big/parallel.age"),
        file_transfer.UploadOptions(max_attempts=1, parallel_uploads=2),
    )

    starts = dropbox_emulator.requests("files/upload_session/start")
    assert starts[0].arg["session_type"] == {".tag": "concurrent"}
    assert dropbox_emulator.files() == {"/big/parallel.age": data}
    assert result.metadata.content_hash == sdk_hash(data)


def test_concurrent_sessions_refuse_misaligned_appends(dropbox_client: DropboxFactory) -> None:
    dbx = dropbox_client()
    session = dbx.files_upload_session_start(b"", session_type=files.UploadSessionType.concurrent)

    with pytest.raises(ApiError) as raised:
        dbx.files_upload_session_append_v2(
            b"x" * 10, files.UploadSessionCursor(session.session_id, 10)
        )

    assert raised.value.error.is_concurrent_session_invalid_offset()
