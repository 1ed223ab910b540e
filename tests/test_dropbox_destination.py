"""The Dropbox destination with the real SDK against the loopback emulator: uploads, resume,
verification, team spaces, the probe. Faults: test_dropbox_faults.py; batching:
test_dropbox_batching.py; the daemon: test_dropbox_daemon.py.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from picsync.destinations import Destination, call_with_retry
from picsync.destinations.dropbox import DropboxDestination
from picsync.errors import BlockedError, IntegrityError, PermanentError, TransientError
from picsync.model import RemoteFile
from picsync.spool import SpoolFile
from tests.emulators.dropbox import DropboxEmulator
from tests.emulators.fixtures import DropboxFactory
from tests.emulators.request_log import RequestRecord

KiB = 1024
MiB = 1024 * KiB
CHUNK = 256 * KiB  # small chunks keep in-process session tests fast; the daemon test uses 32 MiB
ROOT = "/picsync"

DestinationFactory = Callable[..., DropboxDestination]


class MemoryResume:
    """The ledger's UploadStateSlot, kept in memory; remembers every state saved."""

    def __init__(self) -> None:
        self.state: str | None = None
        self.saved: list[dict[str, Any]] = []

    def load(self) -> str | None:
        return self.state

    def save(self, state: str) -> None:
        self.state = state
        self.saved.append(json.loads(state))

    def clear(self) -> None:
        self.state = None


def random_bytes(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def spooled(tmp_path: Path, data: bytes, name: str = "payload.age") -> SpoolFile:
    path = tmp_path / name
    path.write_bytes(data)
    return SpoolFile(path, len(data))


def retried(dest: Destination, remote: str, payload: SpoolFile, resume: Any = None) -> RemoteFile:
    """As the deliverer calls it: per-call retries, honouring Retry-After."""
    return call_with_retry(lambda: dest.upload(remote, payload, resume), initial=0.05)


def appends(emulator: DropboxEmulator) -> list[RequestRecord]:
    return emulator.requests("files/upload_session/append_v2")


def data_ranges(emulator: DropboxEmulator) -> list[tuple[int, int]]:
    """(offset, length) of every session request that carried file bytes, in order."""
    ranges = []
    for record in emulator.requests():
        if record.route == "files/upload_session/start" and record.body_length:
            ranges.append((0, record.body_length))
        elif record.route == "files/upload_session/append_v2":
            ranges.append((record.arg["cursor"]["offset"], record.body_length))
    return ranges


@pytest.fixture
def make_dest(dropbox_client: DropboxFactory) -> DestinationFactory:
    def make(client: Any = None, **settings: Any) -> DropboxDestination:
        settings.setdefault("region", "eu")
        settings.setdefault("chunk_size", CHUNK)
        return DropboxDestination("dbx", client or dropbox_client(), **settings)

    return make


# ---- hashing -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 4 * MiB, 4 * MiB + 1, 9 * MiB + 17])
def test_fingerprint_is_dropbox_content_hash(
    make_dest: DestinationFactory, tmp_path: Path, size: int
) -> None:
    data = random_bytes(size, seed=size)
    blocks = b"".join(
        hashlib.sha256(data[i : i + 4 * MiB]).digest() for i in range(0, len(data), 4 * MiB)
    )
    expected = hashlib.sha256(blocks).hexdigest()  # the algorithm as Dropbox documents it
    assert make_dest().fingerprint(spooled(tmp_path, data)) == expected


# ---- small files ---------------------------------------------------------------------------


def test_a_lone_small_file_is_one_files_upload_with_mode_add(
    make_dest: DestinationFactory, dropbox_emulator: DropboxEmulator, tmp_path: Path
) -> None:
    data = random_bytes(100 * KiB)
    dest = make_dest()

    remote = dest.upload("st/2031/02/01J.jpg.age", spooled(tmp_path, data))

    (upload,) = dropbox_emulator.requests("files/upload")
    assert upload.arg["path"] == f"{ROOT}/st/2031/02/01J.jpg.age"
    assert upload.arg["mode"] in ("add", {".tag": "add"})
    assert (upload.arg["autorename"], upload.arg["strict_conflict"]) == (False, False)
    assert "client_modified" not in upload.arg
    assert dropbox_emulator.files() == {f"{ROOT}/st/2031/02/01j.jpg.age": data}
    assert remote == RemoteFile("st/2031/02/01J.jpg.age", len(data), remote.fingerprint)
    assert remote.fingerprint == dest.fingerprint(spooled(tmp_path, data))


def test_root_may_be_the_app_folder_itself(
    make_dest: DestinationFactory, dropbox_emulator: DropboxEmulator, tmp_path: Path
) -> None:
    make_dest(root="").upload("st/x.age", spooled(tmp_path, b"sealed"))

    assert dropbox_emulator.files() == {"/st/x.age": b"sealed"}


def test_same_bytes_again_store_nothing_new_and_different_bytes_are_refused(
    make_dest: DestinationFactory, dropbox_emulator: DropboxEmulator, tmp_path: Path
) -> None:
    dest = make_dest()
    first = dest.upload("st/x.age", spooled(tmp_path, b"A" * 5000, "a"))
    again = dest.upload("st/x.age", spooled(tmp_path, b"A" * 5000, "a"))

    with pytest.raises(PermanentError, match="refusing to overwrite"):
        dest.upload("st/x.age", spooled(tmp_path, b"B" * 5000, "b"))

    assert first == again
    assert dropbox_emulator.count_writes() == 1
    assert dropbox_emulator.files() == {f"{ROOT}/st/x.age": b"A" * 5000}


def test_stat_reports_the_stored_file_or_none(
    make_dest: DestinationFactory, tmp_path: Path
) -> None:
    dest = make_dest()
    remote = dest.upload("st/x.age", spooled(tmp_path, b"sealed"))

    assert dest.stat("st/x.age") == remote
    assert dest.stat("st/missing.age") is None
    with pytest.raises(PermanentError, match="folder is in the way"):
        dest.stat("st")


def test_stored_bytes_that_differ_from_ours_are_an_integrity_error(
    make_dest: DestinationFactory, dropbox_emulator: DropboxEmulator, tmp_path: Path
) -> None:
    dest = make_dest()
    other = dest.upload("st/other.age", spooled(tmp_path, b"other bytes", "o"))
    metadata = {
        "name": "x.age",
        "path_lower": f"{ROOT}/st/x.age",
        "path_display": f"{ROOT}/st/x.age",
        "id": "id:AAAAAAAAAAAAAAAAAAAAAA",
        "client_modified": "2031-01-01T00:00:00Z",
        "server_modified": "2031-01-01T00:00:00Z",
        "rev": "0123456789abcdef",
        "size": len(b"other bytes"),
        "content_hash": other.fingerprint,
    }
    dropbox_emulator.add_fault(path=r"/2/files/upload$", status=200, body=metadata)

    with pytest.raises(IntegrityError, match="different bytes"):
        dest.upload("st/x.age", spooled(tmp_path, b"sealed bytes"))


@pytest.mark.parametrize("bad", ["/abs/x.age", "../x.age", "a/../../x.age", "a//b.age", "a/", ""])
def test_remote_paths_stay_inside_the_root(
    make_dest: DestinationFactory, dropbox_emulator: DropboxEmulator, tmp_path: Path, bad: str
) -> None:
    with pytest.raises(PermanentError, match="inside the root"):
        make_dest().upload(bad, spooled(tmp_path, b"x"))
    assert dropbox_emulator.requests() == []


# ---- large files: sessions and resume ------------------------------------------------------


def test_a_large_file_streams_through_a_session_saving_progress_after_every_chunk(
    make_dest: DestinationFactory, dropbox_emulator: DropboxEmulator, tmp_path: Path
) -> None:
    data = random_bytes(4 * CHUNK + 1000)
    resume = MemoryResume()

    remote = make_dest().upload("st/big.age", spooled(tmp_path, data), resume)

    assert data_ranges(dropbox_emulator) == [
        (0, CHUNK),
        (CHUNK, CHUNK),
        (2 * CHUNK, CHUNK),
        (3 * CHUNK, CHUNK),
        (4 * CHUNK, 1000),
    ]
    assert [a.arg["close"] for a in appends(dropbox_emulator)] == [False, False, False, True]
    assert [s["offset"] for s in resume.saved] == [
        CHUNK,
        2 * CHUNK,
        3 * CHUNK,
        4 * CHUNK,
        len(data),
    ]
    assert resume.saved[-1]["closed"] is True
    (batch,) = dropbox_emulator.requests("files/upload_session/finish_batch_v2")
    (entry,) = batch.arg["entries"]
    assert entry["cursor"]["offset"] == len(data)
    assert "client_modified" not in entry["commit"]
    assert dropbox_emulator.files() == {f"{ROOT}/st/big.age": data}
    assert remote.size == len(data)


def test_an_interrupted_session_resumes_at_the_stored_offset_after_a_restart(
    make_dest: DestinationFactory, dropbox_emulator: DropboxEmulator, tmp_path: Path
) -> None:
    data = random_bytes(6 * CHUNK)
    payload = spooled(tmp_path, data)
    resume = MemoryResume()
    # Two appends pass; the third dies mid-body, as in a crash or an outage.
    dropbox_emulator.add_fault(path=r"append_v2$", times=2, label="appends that pass")
    dropbox_emulator.add_fault(path=r"append_v2$", drop_after_request_bytes=1000)

    with pytest.raises(TransientError, match="connection"):
        make_dest().upload("st/big.age", payload, resume)
    stored = json.loads(resume.state or "{}")["offset"]
    assert stored == 3 * CHUNK
    sent_before = len(data_ranges(dropbox_emulator))

    make_dest().upload("st/big.age", payload, resume)  # a new instance, as after a restart

    assert data_ranges(dropbox_emulator)[sent_before:] == [
        (3 * CHUNK, CHUNK),
        (4 * CHUNK, CHUNK),
        (5 * CHUNK, CHUNK),
    ]
    assert len(dropbox_emulator.requests("files/upload_session/start")) == 1
    assert dropbox_emulator.files() == {f"{ROOT}/st/big.age": data}
    assert dropbox_emulator.count_writes() == 1


def test_an_append_that_landed_without_an_answer_continues_from_correct_offset(
    make_dest: DestinationFactory, dropbox_emulator: DropboxEmulator, tmp_path: Path
) -> None:
    data = random_bytes(4 * CHUNK)
    resume = MemoryResume()
    dropbox_emulator.add_fault(path=r"append_v2$", times=1, label="first append passes")
    dropbox_emulator.add_fault(path=r"append_v2$", drop_after_commit=True)

    retried(make_dest(), "st/big.age", spooled(tmp_path, data), resume)

    outcomes = [(r.arg["cursor"]["offset"], r.status, r.outcome) for r in appends(dropbox_emulator)]
    assert outcomes == [
        (CHUNK, 200, "responded"),
        (2 * CHUNK, None, "dropped_after_commit"),
        (2 * CHUNK, 409, "responded"),  # incorrect_offset: correct_offset = 3 * CHUNK
        (3 * CHUNK, 200, "responded"),
    ]
    assert dropbox_emulator.files() == {f"{ROOT}/st/big.age": data}


def test_an_expired_session_starts_over_in_a_new_session(
    make_dest: DestinationFactory, dropbox_emulator: DropboxEmulator, tmp_path: Path
) -> None:
    data = random_bytes(3 * CHUNK + 5)
    payload = spooled(tmp_path, data)
    resume = MemoryResume()
    dropbox_emulator.add_fault(path=r"append_v2$", drop_after_request_bytes=10)
    with pytest.raises(TransientError):
        make_dest().upload("st/big.age", payload, resume)
    dropbox_emulator.expire_upload_sessions()  # seven days later

    make_dest().upload("st/big.age", payload, resume)

    assert len(dropbox_emulator.requests("files/upload_session/start")) == 2
    assert dropbox_emulator.files() == {f"{ROOT}/st/big.age": data}
    assert dropbox_emulator.count_writes() == 1


def test_a_stale_resume_state_from_another_file_is_ignored(
    make_dest: DestinationFactory, dropbox_emulator: DropboxEmulator, tmp_path: Path
) -> None:
    data = random_bytes(2 * CHUNK + 1)
    resume = MemoryResume()
    resume.state = json.dumps(
        {"v": 1, "size": 99, "session_id": "AAAAAgone", "offset": 10, "closed": False}
    )

    make_dest().upload("st/big.age", spooled(tmp_path, data), resume)

    assert data_ranges(dropbox_emulator)[0] == (0, CHUNK)
    assert dropbox_emulator.files() == {f"{ROOT}/st/big.age": data}


def test_a_session_commit_whose_answer_was_lost_adopts_the_stored_file(
    make_dest: DestinationFactory, dropbox_emulator: DropboxEmulator, tmp_path: Path
) -> None:
    data = random_bytes(3 * CHUNK)
    resume = MemoryResume()
    dropbox_emulator.add_fault(path=r"finish_batch_v2$", drop_after_commit=True)

    remote = retried(make_dest(), "st/big.age", spooled(tmp_path, data), resume)

    first, second = dropbox_emulator.requests("files/upload_session/finish_batch_v2")
    assert first.outcome == "dropped_after_commit"
    assert json.loads(second.response_body)["entries"][0][".tag"] == "failure"  # session gone
    assert dropbox_emulator.requests("files/get_metadata")[-1].status == 200
    assert len(data_ranges(dropbox_emulator)) == 3  # no byte was sent again
    assert dropbox_emulator.count_writes() == 1
    assert remote.size == len(data)


# ---- team spaces, missing tokens, the probe ------------------------------------------------


def test_a_team_space_destination_writes_into_the_team_root(
    make_dest: DestinationFactory, dropbox_emulator: DropboxEmulator, tmp_path: Path
) -> None:
    dropbox_emulator.enable_team()
    dest = make_dest(team_space=True)

    dest.upload("st/small.age", spooled(tmp_path, b"small", "s"))
    dest.upload("st/big.age", spooled(tmp_path, random_bytes(2 * CHUNK), "b"))

    team_root = dropbox_emulator.root_namespace_id
    assert sorted(dropbox_emulator.files(team_root)) == [
        f"{ROOT}/st/big.age",
        f"{ROOT}/st/small.age",
    ]
    assert dropbox_emulator.files() == {}  # nothing in the member's home folder
    expected = json.dumps({".tag": "root", "root": team_root})
    writes = [r for r in dropbox_emulator.requests() if r.route.startswith("files/")]
    assert writes and all(
        json.loads(r.headers["dropbox-api-path-root"]) == json.loads(expected) for r in writes
    )


def test_team_space_on_an_account_without_a_team_blocks(
    make_dest: DestinationFactory, tmp_path: Path
) -> None:
    with pytest.raises(BlockedError, match="in no team"):
        make_dest(team_space=True).upload("st/x.age", spooled(tmp_path, b"x"))


def test_without_a_refresh_token_every_call_blocks_and_says_what_to_run(
    tmp_path: Path,
) -> None:
    dest = DropboxDestination("records", None, region="eu")
    for call in (
        lambda: dest.upload("st/x.age", spooled(tmp_path, b"x")),
        lambda: dest.stat("st/x.age"),
        dest.probe,
    ):
        with pytest.raises(BlockedError, match=r"picsync auth dropbox .*--destination records"):
            call()


def test_probe_names_the_account_creates_the_root_and_proves_a_write(
    make_dest: DestinationFactory, dropbox_emulator: DropboxEmulator
) -> None:
    dest = make_dest()

    first = dest.probe()
    second = dest.probe()

    assert first == second == "Dropbox account Records Office (basic) writable at /picsync"
    assert dropbox_emulator.files() == {f"{ROOT}/.picsync-probe": b"picsync write probe\n"}
    assert dropbox_emulator.count_writes() == 1  # the second probe's identical write is no write
    creates = dropbox_emulator.requests("files/create_folder_v2")
    assert [r.status for r in creates] == [200, 409]


def test_probe_of_a_team_space(
    make_dest: DestinationFactory, dropbox_emulator: DropboxEmulator
) -> None:
    dropbox_emulator.enable_team()

    line = make_dest(team_space=True).probe()

    assert line == "Dropbox account Records Office (business, team space) writable at /picsync"
    assert f"{ROOT}/.picsync-probe" in dropbox_emulator.files(dropbox_emulator.root_namespace_id)
