"""Box destination under faults: every script ends with the file stored once and verified, or
with a BlockedError that tells the operator what to do. Real SDK, emulator over TLS, no mocks.

Uploads go through `call_with_retry`, exactly as the deliverer calls them.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from picsync.destinations import call_with_retry
from picsync.destinations.box import BoxDestination
from picsync.errors import BlockedError, PermanentError, TransientError
from picsync.model import RemoteFile
from picsync.spool import SpoolFile
from tests.emulators.box import BoxEmulator
from tests.emulators.box_support import DestinationFactory, MemorySlot
from tests.emulators.box_wire import gateway_fault, rate_limit_fault, unavailable_fault
from tests.emulators.faults import Fault
from tests.emulators.request_log import RequestRecord

pytest_plugins = ["tests.emulators.box_fixtures"]

MiB = 1 << 20
BIG = 20_000_000 + 2 * MiB  # chunked: three 8 MiB parts
PREFLIGHT = r"^/2\.0/files/content$"
UPLOAD = r"^/upload/api/2\.0/files/content$"
PART = r"^/upload/api/2\.0/files/upload_sessions/[0-9A-F]+$"
COMMIT = r"/commit$"
REMOTE = "station/2026/11/01J9ZK3T.age"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="Service", error="invalid_token"'}


def spooled(tmp_path: Path, data: bytes, name: str = "payload.age") -> SpoolFile:
    path = tmp_path / name
    path.write_bytes(data)
    return SpoolFile(path, len(data))


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def deliver(
    dest: BoxDestination, source: SpoolFile, resume: MemorySlot | None = None
) -> RemoteFile:
    return call_with_retry(lambda: dest.upload(REMOTE, source, resume))


def assert_stored_once(emu: BoxEmulator, remote: RemoteFile, data: bytes) -> None:
    assert (remote.size, remote.fingerprint) == (len(data), sha1(data))
    stored = [path for path, content in emu.files().items() if content == data]
    assert len(stored) == 1 and stored[0].endswith(REMOTE)
    writes = [c for c in emu.commits() if c.sha1 == sha1(data)]
    assert [c.created for c in writes] == [True]  # one file, one version


def assert_waited(earlier: RequestRecord, later: RequestRecord) -> None:
    """The client waited at least the Retry-After the earlier answer asked for."""
    asked = float(earlier.response_headers["Retry-After"])
    assert earlier.responded_at is not None
    assert later.received_at - earlier.responded_at >= asked


def resent_parts(emu: BoxEmulator) -> list[str]:
    """Part ranges sent again after the server had stored them (must stay empty)."""
    stored: set[str] = set()
    resent: list[str] = []
    for record in emu.requests("sessions.part"):
        key = record.headers["content-range"]
        if key in stored:
            resent.append(key)
        if record.status == 200 or record.outcome == "dropped_after_commit":
            stored.add(key)
    return resent


# ---- direct uploads ---------------------------------------------------------------------------

SMALL_FAULTS: dict[str, Callable[[], Fault]] = {
    "429 on the preflight": lambda: rate_limit_fault(PREFLIGHT, retry_after=1),
    "429 on the upload": lambda: rate_limit_fault(UPLOAD, retry_after=1),
    "503 + Retry-After on the upload": lambda: unavailable_fault(UPLOAD, retry_after=1),
    "gateway 502 twice": lambda: gateway_fault(UPLOAD, times=2),
    "reset mid-body": lambda: Fault(path=UPLOAD, drop_after_request_bytes=2000),
    "stored, then answered 500": lambda: unavailable_fault(UPLOAD, status=500, commit=True),
    "stored, then the connection dropped": lambda: Fault(path=UPLOAD, drop_after_commit=True),
    "stored, then the answer cut short": lambda: Fault(path=UPLOAD, truncate_response=20),
    "stalled answer (read timeout)": lambda: Fault(path=UPLOAD, stall=True, stall_seconds=5),
    "401 on the upload": lambda: Fault(path=UPLOAD, status=401, headers=CHALLENGE),
}


@pytest.mark.parametrize("script", sorted(SMALL_FAULTS))
def test_direct_upload_survives(
    script: str, box_emulator: BoxEmulator, box_destination: DestinationFactory, tmp_path: Path
) -> None:
    dest = box_destination(timeout=1.0)
    data = os.urandom(50_000)
    box_emulator.add_fault(SMALL_FAULTS[script]())
    remote = deliver(dest, spooled(tmp_path, data))
    assert box_emulator.server.faults.pending() == []  # the fault did strike
    assert_stored_once(box_emulator, remote, data)
    assert dest.stat(REMOTE) == remote
    for record in box_emulator.requests():
        if record.status in (429, 503) and "Retry-After" in record.response_headers:
            later = [r for r in box_emulator.requests() if r.seq > record.seq]
            assert_waited(record, later[0])


def test_expired_token_is_refreshed_once_and_the_upload_resent(
    box_emulator: BoxEmulator, box_destination: DestinationFactory, tmp_path: Path
) -> None:
    dest = box_destination()
    dest.upload("station/warm-up.age", spooled(tmp_path, b"warm", "w"))
    box_emulator.expire_access_tokens()
    data = os.urandom(10_000)
    remote = dest.upload(REMOTE, spooled(tmp_path, data))  # no retry layer needed
    assert_stored_once(box_emulator, remote, data)
    routes = [(r.route, r.status) for r in box_emulator.requests()][-6:]
    assert ("oauth2/token", 200) in routes
    assert routes[-1] == ("files.upload", 201)


class OneWay:
    """A payload whose stream cannot seek (like the decrypting reader of a plaintext spool)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.opened = 0

    @property
    def size(self) -> int:
        return len(self.data)

    def open(self) -> OneWayStream:
        self.opened += 1
        return OneWayStream(self.data)


class OneWayStream:
    def __init__(self, data: bytes) -> None:
        self._data, self._at = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size < 0 else self._at + size
        piece, self._at = self._data[self._at : end], min(end, len(self._data))
        return piece

    def close(self) -> None:
        pass

    def __enter__(self) -> OneWayStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def test_one_way_payload_is_reopened_when_the_sdk_resends(
    box_emulator: BoxEmulator, box_destination: DestinationFactory
) -> None:
    dest = box_destination()
    payload = OneWay(os.urandom(30_000))
    box_emulator.add_fault(Fault(path=UPLOAD, status=401, headers=CHALLENGE))
    remote = dest.upload(REMOTE, payload)  # type: ignore[arg-type]
    assert_stored_once(box_emulator, remote, payload.data)
    uploads = box_emulator.requests("files.upload")
    assert [r.status for r in uploads] == [401, 201]
    assert all("content-length" in r.headers for r in uploads)  # sized, not chunked
    assert payload.opened >= 3  # the SHA-1 pass, the first send, the resend


# ---- chunked uploads --------------------------------------------------------------------------

BIG_FAULTS: dict[str, Callable[[], Fault]] = {
    "429 on a part": lambda: rate_limit_fault(PART, retry_after=1),
    "part stored, answer lost": lambda: Fault(path=PART, method="PUT", drop_after_commit=True),
    "reset in a part's body": lambda: Fault(path=PART, method="PUT", drop_after_request_bytes=1),
    "401 between parts": lambda: Fault(path=PART, method="PUT", status=401, headers=CHALLENGE),
    "503 on the commit": lambda: unavailable_fault(COMMIT, retry_after=1),
    "commit applied, answer lost": lambda: Fault(path=COMMIT, drop_after_commit=True),
}


@pytest.fixture(scope="module")
def big_data() -> bytes:
    return os.urandom(BIG)


@pytest.mark.parametrize("script", sorted(BIG_FAULTS))
def test_chunked_upload_survives_without_resending_parts(
    script: str,
    box_emulator: BoxEmulator,
    box_destination: DestinationFactory,
    tmp_path: Path,
    big_data: bytes,
) -> None:
    dest = box_destination()
    resume = MemorySlot()
    fault = BIG_FAULTS[script]()
    # Skip the first part so the fault hits the middle of the session.
    if fault.path == PART:
        box_emulator.add_fault(Fault(path=PART, method="PUT", label="first part passes"))
    box_emulator.add_fault(fault)
    remote = deliver(dest, spooled(tmp_path, big_data), resume)
    assert box_emulator.server.faults.pending() == []  # the fault did strike
    assert_stored_once(box_emulator, remote, big_data)
    assert resent_parts(box_emulator) == []
    assert resume.state is None  # nothing left to resume
    for record in box_emulator.requests():
        if "Retry-After" in record.response_headers:
            later = [r for r in box_emulator.requests() if r.seq > record.seq]
            assert_waited(record, later[0])


def test_commit_polls_while_box_assembles(
    box_emulator: BoxEmulator, box_destination: DestinationFactory, tmp_path: Path, big_data: bytes
) -> None:
    box_emulator.set_commit_accepted(3, retry_after=1)
    remote = box_destination().upload(REMOTE, spooled(tmp_path, big_data), MemorySlot())
    assert_stored_once(box_emulator, remote, big_data)
    commits = box_emulator.requests("sessions.commit")
    assert [r.status for r in commits] == [202, 202, 202, 201]
    for earlier, later in itertools.pairwise(commits):
        assert_waited(earlier, later)


def test_session_expired_between_attempts_starts_a_new_one(
    box_emulator: BoxEmulator, box_destination: DestinationFactory, tmp_path: Path, big_data: bytes
) -> None:
    dest = box_destination()
    resume = MemorySlot()
    box_emulator.add_fault(Fault(path=PART, method="PUT", label="first part passes"))
    box_emulator.add_fault(unavailable_fault(PART, status=500, method="PUT"))
    with pytest.raises(TransientError):
        dest.upload(REMOTE, spooled(tmp_path, big_data), resume)
    assert resume.state is not None
    box_emulator.expire_upload_sessions()
    remote = dest.upload(REMOTE, spooled(tmp_path, big_data), resume)
    assert_stored_once(box_emulator, remote, big_data)
    assert len(box_emulator.requests("sessions.create", status=201)) == 2


def test_progress_is_saved_after_every_part(
    box_emulator: BoxEmulator, box_destination: DestinationFactory, tmp_path: Path, big_data: bytes
) -> None:
    resume = MemorySlot()
    box_emulator.add_fault(Fault(path=PART, method="PUT", times=2, label="two parts pass"))
    box_emulator.add_fault(Fault(path=PART, method="PUT", status=400, body={"code": "x"}))
    with pytest.raises(PermanentError):
        box_destination().upload(REMOTE, spooled(tmp_path, big_data), resume)
    assert resume.state is not None and '"parts":[{' in resume.state
    assert resume.state.count('"part_id"') == 2
    assert resume.saves == 3  # the session, then each part


# ---- blocked: a person must act ---------------------------------------------------------------


def test_revoked_client_credentials_block_with_what_to_do(
    box_emulator: BoxEmulator, box_destination: DestinationFactory, tmp_path: Path
) -> None:
    dest = box_destination()
    dest.upload("station/warm-up.age", spooled(tmp_path, b"warm", "w"))
    box_emulator.revoke_client_credentials()
    with pytest.raises(BlockedError, match="client secret"):
        deliver(dest, spooled(tmp_path, b"new photo"))
    assert not any(c.endswith(REMOTE) for c in box_emulator.files())
    assert len(box_emulator.requests("oauth2/token", status=400)) == 1  # not retried


def test_full_storage_blocks_with_what_to_do(
    box_emulator: BoxEmulator, box_destination: DestinationFactory, tmp_path: Path
) -> None:
    dest = box_destination()
    box_emulator.set_quota(1000)
    with pytest.raises(BlockedError, match="storage quota"):
        deliver(dest, spooled(tmp_path, os.urandom(5000)))
    assert box_emulator.files() == {}


def test_missing_write_permission_blocks(
    box_emulator: BoxEmulator, box_destination: DestinationFactory, tmp_path: Path
) -> None:
    folder = box_emulator.create_folder("Read only")
    box_emulator.make_read_only(folder)
    with pytest.raises(BlockedError, match="Editor"):
        deliver(box_destination(folder_id=folder), spooled(tmp_path, b"x"))


def test_deleted_root_folder_blocks(
    box_emulator: BoxEmulator, box_destination: DestinationFactory, tmp_path: Path
) -> None:
    folder = box_emulator.create_folder("Clinic")
    dest = box_destination(folder_id=folder)
    dest.upload("station/a.age", spooled(tmp_path, b"a", "a"))
    box_emulator.delete(folder)
    with pytest.raises(BlockedError, match="re-share"):
        deliver(dest, spooled(tmp_path, b"b", "b"))


def test_expired_developer_token_blocks(
    box_emulator: BoxEmulator, box_destination: DestinationFactory, tmp_path: Path
) -> None:
    token = box_emulator.issue_developer_token()
    dest = box_destination(auth="developer_token", secrets_={"developer_token": token})
    dest.upload("station/a.age", spooled(tmp_path, b"a", "a"))
    box_emulator.expire_access_tokens()
    with pytest.raises(BlockedError, match="developer token has expired"):
        deliver(dest, spooled(tmp_path, b"b", "b"))
