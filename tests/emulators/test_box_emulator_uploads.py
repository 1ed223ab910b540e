"""The Box emulator against the real box_sdk_gen SDK: folders, direct uploads, versions."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
from box_sdk_gen import BoxAPIError, BoxClient
from box_sdk_gen.managers.folders import CreateFolderParent
from box_sdk_gen.managers.uploads import (
    PreflightFileUploadCheckParent,
    UploadFileAttributes,
    UploadFileAttributesParentField,
    UploadFileVersionAttributes,
)

from .box import BoxEmulator
from .box_support import BoxClientFactory, trusting_session
from .tls import LoopbackTls

pytest_plugins = ["tests.emulators.box_fixtures"]


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def upload(client: BoxClient, folder_id: str, name: str, data: bytes, **kwargs: object) -> str:
    attributes = UploadFileAttributes(name, UploadFileAttributesParentField(folder_id))
    files = client.uploads.upload_file(attributes, io.BytesIO(data), **kwargs)  # type: ignore[arg-type]
    assert files.entries is not None
    return str(files.entries[0].id)


# ---- folders ---------------------------------------------------------------------------------


def test_folder_names_are_unique_ignoring_case_and_409_names_the_existing_one(
    box_sdk_client: BoxClientFactory,
) -> None:
    client = box_sdk_client()
    created = client.folders.create_folder("Station-A", CreateFolderParent(id="0"))
    with pytest.raises(BoxAPIError) as caught:
        client.folders.create_folder("station-a", CreateFolderParent(id="0"))
    info = caught.value.response_info
    assert (info.status_code, info.code) == (409, "item_name_in_use")
    assert info.context_info["conflicts"][0]["id"] == created.id  # folders: a list


def test_folder_view_and_items_paging(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory
) -> None:
    client = box_sdk_client()
    parent = client.folders.create_folder("Clinic", CreateFolderParent(id="0"))
    for n in range(5):
        upload(client, parent.id, f"f{n}.bin", bytes([n]) * 10)
    client.folders.create_folder("sub", CreateFolderParent(id=parent.id))
    folder = client.folders.get_folder_by_id(parent.id)
    assert folder.owned_by is not None and folder.owned_by.id == box_emulator.service_account.id
    assert folder.path_collection is not None and folder.path_collection.total_count == 1
    page = client.folders.get_folder_items(parent.id, offset=2, limit=3)
    assert page.total_count == 6 and [e.name for e in page.entries or []] == [
        "f1.bin",
        "f2.bin",
        "f3.bin",
    ]
    names, marker = [], None
    while True:
        marked = client.folders.get_folder_items(parent.id, usemarker=True, marker=marker, limit=4)
        names += [e.name for e in marked.entries or []]
        marker = marked.next_marker
        if not marker:
            break
    assert names == ["sub"] + [f"f{n}.bin" for n in range(5)]  # folders first


def test_unknown_folder_is_404(box_sdk_client: BoxClientFactory) -> None:
    with pytest.raises(BoxAPIError) as caught:
        box_sdk_client().folders.get_folder_by_id("12345")
    assert (caught.value.response_info.status_code, caught.value.response_info.code) == (
        404,
        "not_found",
    )


@pytest.mark.parametrize("bad", ["a/b", "back\\slash", " lead", "trail ", ".", ".."])
def test_invalid_names_are_refused(box_sdk_client: BoxClientFactory, bad: str) -> None:
    with pytest.raises(BoxAPIError) as caught:
        box_sdk_client().folders.create_folder(bad, CreateFolderParent(id="0"))
    assert (caught.value.response_info.status_code, caught.value.response_info.code) == (
        400,
        "item_name_invalid",
    )


# ---- direct uploads --------------------------------------------------------------------------


def test_upload_stores_bytes_and_reports_sha1(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory
) -> None:
    client = box_sdk_client()
    folder = box_emulator.create_folder("Clinic")
    data = os.urandom(4000)
    file_id = upload(client, folder, "a.age", data, content_md_5=sha1(data))
    info = client.files.get_file_by_id(file_id)
    assert (info.sha_1, info.size, info.name) == (sha1(data), 4000, "a.age")
    assert box_emulator.files() == {"Clinic/a.age": data}
    assert box_emulator.requests("files.upload")[0].arg == {
        "name": "a.age",
        "parent": {"id": folder},
    }


@pytest.mark.parametrize("shape", ["object", "list"])
def test_name_in_use_409_carries_the_existing_file(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory, shape: str
) -> None:
    box_emulator.set_conflict_shape(shape)  # type: ignore[arg-type]
    client = box_sdk_client()
    folder = box_emulator.create_folder("Clinic")
    data = b"first"
    file_id = upload(client, folder, "x.age", data)
    with pytest.raises(BoxAPIError) as caught:
        upload(client, folder, "X.AGE", b"second")
    conflicts = caught.value.response_info.context_info["conflicts"]
    existing = conflicts if shape == "object" else conflicts[0]
    assert (existing["id"], existing["sha1"], existing["type"]) == (file_id, sha1(data), "file")
    assert box_emulator.files() == {"Clinic/x.age": data}


def test_content_md5_mismatch_is_bad_digest_and_stores_nothing(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory
) -> None:
    folder = box_emulator.create_folder("Clinic")
    with pytest.raises(BoxAPIError) as caught:
        upload(box_sdk_client(), folder, "a.age", b"payload", content_md_5=sha1(b"other"))
    assert (caught.value.response_info.status_code, caught.value.response_info.code) == (
        400,
        "bad_digest",
    )
    assert box_emulator.files() == {}


def test_attributes_must_come_before_the_file(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory, loopback_tls: LoopbackTls
) -> None:
    folder = box_emulator.create_folder("Clinic")
    box_sdk_client().users.get_user_me()
    token = box_emulator.issue_developer_token()
    files = [
        ("file", ("", b"data")),
        ("attributes", (None, f'{{"name":"a","parent":{{"id":"{folder}"}}}}')),
    ]
    answer = trusting_session(loopback_tls).post(
        box_emulator.upload_url + "/2.0/files/content",
        files=files,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert (answer.status_code, answer.json()["code"]) == (400, "metadata_after_file_contents")


def test_uploads_only_on_the_upload_host(
    box_emulator: BoxEmulator, loopback_tls: LoopbackTls
) -> None:
    token = box_emulator.issue_developer_token()
    answer = trusting_session(loopback_tls).post(
        box_emulator.url + "/2.0/files/content", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 405  # the API host knows the path only for OPTIONS


def test_new_version_keeps_the_old_one_and_if_match_guards_it(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory
) -> None:
    client = box_sdk_client()
    folder = box_emulator.create_folder("Clinic")
    file_id = upload(client, folder, "v.age", b"one")
    with pytest.raises(BoxAPIError) as caught:
        client.uploads.upload_file_version(
            file_id, UploadFileVersionAttributes("v.age"), io.BytesIO(b"two"), if_match="7"
        )
    assert caught.value.response_info.status_code == 412
    client.uploads.upload_file_version(
        file_id, UploadFileVersionAttributes("v.age"), io.BytesIO(b"two"), if_match="0"
    )
    assert box_emulator.files() == {"Clinic/v.age": b"two"}
    assert [(c.created, c.sha1) for c in box_emulator.commits()] == [
        (True, sha1(b"one")),
        (False, sha1(b"two")),
    ]


def test_preflight_answers_an_upload_url_or_the_conflict(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory
) -> None:
    client = box_sdk_client()
    folder = box_emulator.create_folder("Clinic")
    parent = PreflightFileUploadCheckParent(id=folder)
    url = client.uploads.preflight_file_upload_check(name="p.age", size=3, parent=parent)
    assert url.upload_url is not None and url.upload_url.startswith(box_emulator.upload_url)
    upload(client, folder, "p.age", b"abc")
    with pytest.raises(BoxAPIError) as caught:
        client.uploads.preflight_file_upload_check(name="P.age", size=3, parent=parent)
    assert caught.value.response_info.code == "item_name_in_use"
    assert box_emulator.requests("files.preflight")[0].method == "OPTIONS"


def test_full_storage_is_403_storage_limit_exceeded(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory
) -> None:
    client = box_sdk_client()
    folder = box_emulator.create_folder("Clinic")
    box_emulator.set_quota(10)
    with pytest.raises(BoxAPIError) as caught:
        client.uploads.preflight_file_upload_check(
            name="q.age", size=11, parent=PreflightFileUploadCheckParent(id=folder)
        )
    assert (caught.value.response_info.status_code, caught.value.response_info.code) == (
        403,
        "storage_limit_exceeded",
    )
    with pytest.raises(BoxAPIError):
        upload(client, folder, "q.age", b"x" * 11)
    assert box_emulator.files() == {}


def test_files_in_another_users_folder_count_against_that_owner(
    box_emulator: BoxEmulator, box_sdk_client: BoxClientFactory
) -> None:
    owner = box_emulator.add_user("Clinic Owner")
    shared = box_emulator.create_folder("Shared", owner_id=owner)
    client = box_sdk_client()
    sub = client.folders.create_folder("2026", CreateFolderParent(id=shared))
    assert sub.owned_by is not None and sub.owned_by.id == owner
    box_emulator.set_quota(5, user_id=owner)
    with pytest.raises(BoxAPIError) as caught:
        upload(client, sub.id, "big.age", b"x" * 6)
    assert caught.value.response_info.code == "storage_limit_exceeded"
