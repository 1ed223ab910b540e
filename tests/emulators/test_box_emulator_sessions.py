"""The Box emulator against the real SDK: chunked upload sessions, storage policies, switches."""

from __future__ import annotations

import base64
import hashlib
import io
import os

import pytest
from box_sdk_gen import BoxAPIError, BoxClient, BoxSDKError
from box_sdk_gen.managers.folders import CreateFolderParent
from box_sdk_gen.managers.storage_policy_assignments import (
    GetStoragePolicyAssignmentsResolvedForType,
)
from box_sdk_gen.schemas.upload_part import UploadPart

from .box import BoxEmulator
from .box_support import BoxClientFactory

pytest_plugins = ["tests.emulators.box_fixtures"]

MiB = 1 << 20
SIZE = 20_000_000 + 3 * MiB  # just above Box's 20 MB minimum: 3 parts of 8 MiB


def b64sha1(data: bytes) -> str:
    return "sha=" + base64.b64encode(hashlib.sha1(data).digest()).decode()


@pytest.fixture
def data() -> bytes:
    return os.urandom(SIZE)


def start(client: BoxClient, emu: BoxEmulator, size: int = SIZE) -> tuple[str, object]:
    folder = emu.create_folder("Clinic")
    session = client.chunked_uploads.create_file_upload_session(folder, size, "big.age")
    return folder, session


def test_sdk_upload_big_file_end_to_end(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory, data: bytes
) -> None:
    box_emulator.set_commit_accepted(2, retry_after=0)
    folder = box_emulator.create_folder("Clinic")
    result = box_sdk_client().chunked_uploads.upload_big_file(
        io.BytesIO(data), "big.age", len(data), folder
    )
    assert (result.size, result.sha_1) == (len(data), hashlib.sha1(data).hexdigest())
    assert box_emulator.files() == {"Clinic/big.age": data}
    statuses = [r.status for r in box_emulator.requests("sessions.commit")]
    assert statuses == [202, 202, 201]
    parts = box_emulator.requests("sessions.part")
    assert [r.headers["content-range"] for r in parts] == [
        f"bytes 0-{8 * MiB - 1}/{SIZE}",
        f"bytes {8 * MiB}-{16 * MiB - 1}/{SIZE}",
        f"bytes {16 * MiB}-{SIZE - 1}/{SIZE}",
    ]


def test_sdk_upload_big_file_gives_up_after_five_202s(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory, data: bytes
) -> None:
    """What cloud-apis.md §4.4 verified against the real SDK, reproduced: a reason not to use it."""
    box_emulator.set_commit_accepted(10, retry_after=0)
    folder = box_emulator.create_folder("Clinic")
    with pytest.raises(AttributeError):
        box_sdk_client().chunked_uploads.upload_big_file(
            io.BytesIO(data), "big.age", len(data), folder
        )
    assert len(box_emulator.requests("sessions.commit")) == 5
    assert box_emulator.files() == {}


def test_sessions_need_20_mb(box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory) -> None:
    with pytest.raises(BoxAPIError) as caught:
        start(box_sdk_client(), box_emulator, size=19_999_999)
    assert caught.value.response_info.status_code == 400
    assert "20000000" in caught.value.response_info.body["message"]


def test_session_create_checks_the_name_like_a_preflight(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory
) -> None:
    client = box_sdk_client()
    folder, _ = start(client, box_emulator)
    box_emulator.store.add_file(folder, "taken.age", b"x")
    with pytest.raises(BoxAPIError) as caught:
        client.chunked_uploads.create_file_upload_session(folder, SIZE, "TAKEN.age")
    assert caught.value.response_info.code == "item_name_in_use"


def test_part_rules(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory, data: bytes
) -> None:
    client = box_sdk_client()
    _, session = start(client, box_emulator)
    url = session.session_endpoints.upload_part  # type: ignore[attr-defined]
    part = data[: 8 * MiB]
    up = client.chunked_uploads.upload_file_part_by_url

    def code(**kwargs: object) -> tuple[int, str | None]:
        args = {"digest": b64sha1(part), "content_range": f"bytes 0-{8 * MiB - 1}/{SIZE}"}
        args.update(kwargs)  # type: ignore[arg-type]
        with pytest.raises(BoxAPIError) as caught:
            up(url, io.BytesIO(part), **args)  # type: ignore[arg-type]
        return caught.value.response_info.status_code, caught.value.response_info.code

    assert code(digest=b64sha1(b"other"))[0] == 412
    assert code(content_range=f"bytes 1-{8 * MiB}/{SIZE}")[0] == 416  # not aligned
    assert code(content_range=f"bytes 0-{8 * MiB - 1}/{SIZE + 1}")[0] == 416  # wrong total
    stored = up(url, io.BytesIO(part), b64sha1(part), f"bytes 0-{8 * MiB - 1}/{SIZE}").part
    assert stored is not None
    assert (stored.offset, stored.size, stored.sha_1) == (
        0,
        8 * MiB,
        hashlib.sha1(part).hexdigest(),
    )
    assert code() == (409, "range_overlaps_existing_part")
    listed = client.chunked_uploads.get_file_upload_session_parts_by_url(
        session.session_endpoints.list_parts  # type: ignore[attr-defined]
    )
    assert listed.total_count == 1 and listed.entries is not None
    assert listed.entries[0].part_id == stored.part_id


def test_commit_checks_parts_and_digest(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory, data: bytes
) -> None:
    client = box_sdk_client()
    _, session = start(client, box_emulator)
    endpoints = session.session_endpoints  # type: ignore[attr-defined]
    parts = []
    for offset in range(0, SIZE, 8 * MiB):
        chunk = data[offset : offset + 8 * MiB]
        rng = f"bytes {offset}-{offset + len(chunk) - 1}/{SIZE}"
        uploaded = client.chunked_uploads.upload_file_part_by_url(
            endpoints.upload_part, io.BytesIO(chunk), b64sha1(chunk), rng
        )
        parts.append(uploaded.part)
    commit = client.chunked_uploads.create_file_upload_session_commit_by_url
    with pytest.raises(BoxAPIError) as caught:
        commit(endpoints.commit, parts[:2], b64sha1(data))
    assert caught.value.response_info.code == "parts_mismatch"
    with pytest.raises(BoxAPIError) as caught:
        commit(endpoints.commit, parts, b64sha1(b"not the file"))
    assert caught.value.response_info.code == "bad_digest"
    files = commit(
        endpoints.commit,
        [UploadPart(part_id=p.part_id, offset=p.offset, size=p.size) for p in parts],
        b64sha1(data),
    )
    assert files is not None and files.entries is not None
    assert files.entries[0].sha_1 == hashlib.sha1(data).hexdigest()
    with pytest.raises(BoxAPIError) as caught:
        commit(endpoints.commit, parts, b64sha1(data))
    assert caught.value.response_info.status_code == 404  # a committed session is gone
    assert len(box_emulator.commits()) == 1


def test_abort_and_expiry(box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory) -> None:
    client = box_sdk_client()
    _, session = start(client, box_emulator)
    client.chunked_uploads.delete_file_upload_session_by_url(
        session.session_endpoints.abort  # type: ignore[attr-defined]
    )
    with pytest.raises(BoxAPIError) as caught:
        client.chunked_uploads.get_file_upload_session_by_url(
            session.session_endpoints.status  # type: ignore[attr-defined]
        )
    assert caught.value.response_info.status_code == 404
    folder = box_emulator.create_folder("Other")
    live = client.chunked_uploads.create_file_upload_session(folder, SIZE, "x.age")
    box_emulator.expire_upload_sessions()
    with pytest.raises(BoxAPIError) as caught:
        client.chunked_uploads.get_file_upload_session_by_url(
            live.session_endpoints.status  # type: ignore[union-attr]
        )
    assert (caught.value.response_info.status_code, caught.value.response_info.code) == (
        410,
        "session_expired",
    )


# ---- storage policies (Box Zones) ------------------------------------------------------------


def test_zone_of_a_user_resolves_to_the_enterprise_default(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory
) -> None:
    client = box_sdk_client()
    box_emulator.assign_zone("Frankfurt / Dublin")
    owner = box_emulator.add_user("Clinic Owner")
    montreal = box_emulator.assign_zone("Montreal / Dublin", user_id=owner)
    user = GetStoragePolicyAssignmentsResolvedForType.USER

    def zone_of(user_id: str) -> str | None:
        found = client.storage_policy_assignments.get_storage_policy_assignments(user, user_id)
        assert found.entries is not None and found.entries[0].storage_policy is not None
        policy_id = found.entries[0].storage_policy.id
        return client.storage_policies.get_storage_policy_by_id(policy_id).name

    assert zone_of(box_emulator.service_account.id) == "Frankfurt / Dublin"
    assert zone_of(owner) == "Montreal / Dublin"
    found = client.storage_policy_assignments.get_storage_policy_assignments(user, owner)
    assert found.entries is not None and found.entries[0].storage_policy is not None
    assert found.entries[0].storage_policy.id == montreal


def test_zone_endpoints_can_be_forbidden(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory
) -> None:
    box_emulator.set_policies_readable(False)
    with pytest.raises(BoxAPIError) as caught:
        box_sdk_client().storage_policy_assignments.get_storage_policy_assignments(
            GetStoragePolicyAssignmentsResolvedForType.USER, box_emulator.service_account.id
        )
    assert (caught.value.response_info.status_code, caught.value.response_info.code) == (
        403,
        "access_denied_insufficient_permissions",
    )


# ---- switches --------------------------------------------------------------------------------


def test_duplicate_folder_switch_emulates_the_create_race(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory
) -> None:
    client = box_sdk_client()
    box_emulator.allow_duplicate_folders()
    first = client.folders.create_folder("11", CreateFolderParent(id="0"))
    second = client.folders.create_folder("11", CreateFolderParent(id="0"))
    assert first.id != second.id
    assert sorted(box_emulator.folders_named("11")) == sorted([first.id, second.id])


def test_deleted_and_read_only_folders(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory
) -> None:
    client = box_sdk_client()
    locked = box_emulator.create_folder("Locked")
    box_emulator.make_read_only(locked)
    with pytest.raises(BoxAPIError) as caught:
        client.folders.create_folder("x", CreateFolderParent(id=locked))
    assert caught.value.response_info.code == "access_denied_insufficient_permissions"
    gone = box_emulator.create_folder("Gone")
    box_emulator.delete(gone)
    with pytest.raises(BoxAPIError) as caught:
        client.folders.create_folder("x", CreateFolderParent(id=gone))
    assert caught.value.response_info.status_code == 404


def test_offline_switch_resets_connections(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory
) -> None:
    client = box_sdk_client()
    client.users.get_user_me()
    box_emulator.set_offline(True)
    with pytest.raises(BoxSDKError):
        client.users.get_user_me()
    box_emulator.set_offline(False)
    assert client.users.get_user_me().id == box_emulator.service_account.id
