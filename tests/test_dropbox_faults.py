"""The Dropbox destination under faults (real SDK, loopback emulator): every fault ends with the
file stored exactly once and verified, or with a BlockedError that says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from dropbox.session import pinned_session

from picsync.errors import BlockedError, IntegrityError, PermanentError, TransientError
from tests import test_dropbox_destination as base
from tests.emulators.dropbox import DropboxEmulator
from tests.emulators.dropbox_seam import loopback_dropbox
from tests.emulators.dropbox_wire import rate_limit_fault, server_error_fault
from tests.emulators.faults import Fault
from tests.emulators.fixtures import DropboxFactory
from tests.test_dropbox_destination import (
    CHUNK,
    ROOT,
    DestinationFactory,
    MemoryResume,
    random_bytes,
    retried,
    spooled,
)

make_dest = base.make_dest

UPLOAD = r"/2/files/upload$"
APPEND = r"/2/files/upload_session/append_v2$"
BATCH = r"/2/files/upload_session/finish_batch_v2$"
SMALL = 50_000
LARGE = 3 * CHUNK + 123


def stored_once(emulator: DropboxEmulator, remote: str, data: bytes) -> None:
    assert emulator.files() == {f"{ROOT}/{remote}".lower(): data}
    assert emulator.count_writes() == 1


# ---- transient faults: retried, stored exactly once ----------------------------------------

FAULTS = {
    "500 on upload": (SMALL, server_error_fault(UPLOAD, status=500)),
    "503 on upload": (SMALL, server_error_fault(UPLOAD, status=503)),
    "500 after the upload was stored": (SMALL, server_error_fault(UPLOAD, commit=True)),
    "reset mid-body on upload": (SMALL, Fault(path=UPLOAD, drop_after_request_bytes=4000)),
    "upload stored, answer dropped": (SMALL, Fault(path=UPLOAD, drop_after_commit=True)),
    "upload answer cut short": (SMALL, Fault(path=UPLOAD, truncate_response=20)),
    "503 on append": (LARGE, server_error_fault(APPEND, status=503)),
    "reset mid-body on append": (LARGE, Fault(path=APPEND, drop_after_request_bytes=CHUNK // 2)),
    "500 on the batch commit": (LARGE, server_error_fault(BATCH)),
    "batch committed, answer dropped": (LARGE, Fault(path=BATCH, drop_after_commit=True)),
    "content hash mismatch": (
        SMALL,
        Fault(
            path=UPLOAD,
            status=409,
            body={
                "error_summary": "content_hash_mismatch/",
                "error": {".tag": "content_hash_mismatch"},
            },
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_a_transient_fault_ends_with_the_file_stored_exactly_once(
    make_dest: DestinationFactory, dropbox_emulator: DropboxEmulator, tmp_path: Path, name: str
) -> None:
    size, fault = FAULTS[name]
    data = random_bytes(size)
    dropbox_emulator.add_fault(fault)

    remote = retried(make_dest(), "st/x.age", spooled(tmp_path, data), MemoryResume())

    assert [r.fault for r in dropbox_emulator.requests() if r.fault] == [fault.describe()]
    stored_once(dropbox_emulator, "st/x.age", data)
    assert remote.size == len(data)


def test_a_stall_past_the_timeout_is_retried(
    make_dest: DestinationFactory,
    dropbox_client: DropboxFactory,
    dropbox_emulator: DropboxEmulator,
    tmp_path: Path,
) -> None:
    data = random_bytes(SMALL)
    dropbox_emulator.add_fault(path=UPLOAD, stall=True, stall_seconds=5)
    dest = make_dest(dropbox_client(timeout=0.5))

    retried(dest, "st/x.age", spooled(tmp_path, data))

    assert [r.outcome for r in dropbox_emulator.requests("files/upload")] == [
        "stalled",
        "responded",
    ]
    stored_once(dropbox_emulator, "st/x.age", data)


def test_content_hash_mismatch_is_an_integrity_error(
    make_dest: DestinationFactory, dropbox_emulator: DropboxEmulator, tmp_path: Path
) -> None:
    dropbox_emulator.add_fault(FAULTS["content hash mismatch"][1])

    with pytest.raises(IntegrityError):
        make_dest().upload("st/x.age", spooled(tmp_path, b"x"))


@pytest.mark.parametrize("json_body", [True, False])
def test_429_waits_at_least_retry_after_then_stores_once(
    make_dest: DestinationFactory,
    dropbox_emulator: DropboxEmulator,
    tmp_path: Path,
    json_body: bool,
) -> None:
    data = random_bytes(SMALL)
    dropbox_emulator.add_fault(rate_limit_fault(UPLOAD, retry_after=1, json_body=json_body))

    retried(make_dest(), "st/x.age", spooled(tmp_path, data))

    refused, accepted = dropbox_emulator.requests("files/upload")
    assert (refused.status, accepted.status) == (429, 200)
    assert refused.responded_at is not None
    assert accepted.received_at - refused.responded_at >= 1.0
    stored_once(dropbox_emulator, "st/x.age", data)


def test_429_beyond_the_retry_budget_hands_retry_after_to_the_ledger(
    make_dest: DestinationFactory, dropbox_emulator: DropboxEmulator, tmp_path: Path
) -> None:
    dropbox_emulator.add_fault(rate_limit_fault(UPLOAD, retry_after=300))

    with pytest.raises(TransientError) as raised:
        retried(make_dest(), "st/x.age", spooled(tmp_path, b"x"))

    assert raised.value.retry_after == 300
    assert len(dropbox_emulator.requests("files/upload")) == 1
    assert dropbox_emulator.files() == {}


@pytest.mark.parametrize("size", [SMALL, LARGE])
def test_an_expired_access_token_is_refreshed_transparently(
    make_dest: DestinationFactory, dropbox_emulator: DropboxEmulator, tmp_path: Path, size: int
) -> None:
    dest = make_dest()
    dest.upload("st/first.age", spooled(tmp_path, b"first", "f"))
    dropbox_emulator.expire_access_tokens()
    data = random_bytes(size)

    dest.upload("st/x.age", spooled(tmp_path, data))  # one attempt: no error reaches us

    routes = [(r.route, r.status) for r in dropbox_emulator.requests()]
    refused = routes.index((routes[2][0], 401))
    assert routes[refused + 1] == ("oauth2/token", 200)
    assert routes[refused + 2] == (routes[refused][0], 200)
    assert dropbox_emulator.files()[f"{ROOT}/st/x.age"] == data


# ---- blocking faults: a person must act; nothing stored, nothing retried -------------------


@pytest.mark.parametrize("size", [SMALL, LARGE])
def test_a_revoked_refresh_token_blocks_and_says_what_to_run(
    make_dest: DestinationFactory, dropbox_emulator: DropboxEmulator, tmp_path: Path, size: int
) -> None:
    dest = make_dest()
    dest.upload("st/first.age", spooled(tmp_path, b"first", "f"))
    dropbox_emulator.revoke_refresh_tokens()
    dropbox_emulator.expire_access_tokens()

    with pytest.raises(BlockedError) as raised:
        retried(dest, "st/x.age", spooled(tmp_path, random_bytes(size)))

    assert str(raised.value) == (
        "Dropbox refused the refresh token (revoked?); run "
        "`picsync auth dropbox -c CONFIG --destination dbx`"
    )
    assert len(dropbox_emulator.requests("oauth2/token")) == 2  # initial, and the one refused
    assert list(dropbox_emulator.files()) == [f"{ROOT}/st/first.age"]


@pytest.mark.parametrize("size", [SMALL, LARGE])
def test_a_full_account_blocks_and_says_what_to_do(
    make_dest: DestinationFactory, dropbox_emulator: DropboxEmulator, tmp_path: Path, size: int
) -> None:
    dropbox_emulator.set_quota(1000)

    with pytest.raises(BlockedError, match=r"account is full .*free space or upgrade"):
        retried(make_dest(), "st/x.age", spooled(tmp_path, random_bytes(size)))

    assert dropbox_emulator.files() == {}


def test_an_untrusted_server_certificate_blocks(
    dropbox_emulator: DropboxEmulator, make_dest: DestinationFactory, tmp_path: Path
) -> None:
    session = pinned_session()
    session.trust_env = False  # the system CAs only: the emulator's test CA is not among them
    client = loopback_dropbox(
        dropbox_emulator.netloc,
        tmp_path,
        session=session,
        oauth2_refresh_token=dropbox_emulator.refresh_token,
        app_key=dropbox_emulator.app_key,
        app_secret=dropbox_emulator.app_secret,
        max_retries_on_error=0,
        max_retries_on_rate_limit=0,
    )

    with pytest.raises(BlockedError, match="certificate could not be verified"):
        make_dest(client).upload("st/x.age", spooled(tmp_path, b"x"))


def test_a_wrong_app_secret_blocks(
    dropbox_client: DropboxFactory, make_dest: DestinationFactory, tmp_path: Path
) -> None:
    dest = make_dest(dropbox_client(app_secret="not-the-secret"))

    with pytest.raises(BlockedError, match=r"refused the app credentials \(invalid_client\)"):
        dest.upload("st/x.age", spooled(tmp_path, b"x"))


# ---- permanent refusals: bury the delivery -------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "message"),
    [
        ("st/desktop.ini", "refuses to store a file under this name"),
        ("st/x.age/inside.age", "something else is already stored"),  # a file as a parent
    ],
)
def test_a_path_dropbox_refuses_is_permanent(
    make_dest: DestinationFactory, tmp_path: Path, remote: str, message: str
) -> None:
    dest = make_dest()
    dest.upload("st/x.age", spooled(tmp_path, b"x", "first"))

    with pytest.raises(PermanentError, match=message):
        dest.upload(remote, spooled(tmp_path, b"y"))


def test_offline_is_transient(
    make_dest: DestinationFactory, dropbox_emulator: DropboxEmulator, tmp_path: Path
) -> None:
    dropbox_emulator.set_offline()

    with pytest.raises(TransientError, match="connection to Dropbox failed"):
        make_dest().upload("st/x.age", spooled(tmp_path, b"x"))


def test_messages_never_name_the_remote_path(
    make_dest: DestinationFactory, dropbox_emulator: DropboxEmulator, tmp_path: Path
) -> None:
    dest = make_dest()
    dest.upload("st/UNIQUE-ID-7.age", spooled(tmp_path, b"x", "first"))
    failures = []
    for fault in (
        Fault(
            path=UPLOAD,
            status=409,
            body={"error": {".tag": "path", "reason": {".tag": "malformed_path"}}},
        ),
        server_error_fault(UPLOAD),
        Fault(path=UPLOAD, drop_after_request_bytes=1),
    ):
        dropbox_emulator.add_fault(fault)
        try:
            dest.upload("st/UNIQUE-ID-8.age", spooled(tmp_path, b"y", "spool-name-secret"))
        except (TransientError, PermanentError) as exc:
            failures.append(str(exc))
    with pytest.raises(PermanentError) as conflict:
        dest.upload("st/UNIQUE-ID-7.age", spooled(tmp_path, b"z", "spool-name-secret"))
    failures.append(str(conflict.value))

    assert len(failures) == 4
    for message in failures:
        assert "UNIQUE-ID" not in message
        assert "spool-name-secret" not in message
        assert str(tmp_path) not in message
