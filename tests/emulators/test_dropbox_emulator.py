"""The Dropbox emulator's semantics, proven with the real `dropbox` SDK (routes, modes, sessions).

Faults, auth and contention are in test_dropbox_emulator_faults.py.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

import dropbox
import pytest
from dropbox import common, files
from dropbox.content_hash import DropboxContentHasher
from dropbox.exceptions import ApiError, PathRootError
from stone.backends.python_rsrc import stone_serializers

from . import fixtures
from .dropbox import DropboxEmulator
from .dropbox_wire import BLOCK_SIZE, content_hash
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


# ---- content hash --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size", [0, 1, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, 2 * BLOCK_SIZE + 12345]
)
def test_content_hash_agrees_with_the_sdk_hasher_across_block_boundaries(size: int) -> None:
    data = payload(size, seed=size)
    assert content_hash(data) == sdk_hash(data)


def test_content_hash_of_empty_content_is_sha256_of_nothing() -> None:
    assert content_hash(b"") == hashlib.sha256(b"").hexdigest()


# ---- account and metadata ------------------------------------------------------------------


def test_current_account_is_a_personal_account_whose_root_is_home(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    account = dropbox_client().users_get_current_account()

    assert len(account.account_id) == 40
    assert account.account_type.is_basic()
    assert account.root_info.root_namespace_id == dropbox_emulator.home_namespace_id
    assert account.root_info.home_namespace_id == dropbox_emulator.home_namespace_id


def test_upload_stores_the_bytes_and_returns_valid_file_metadata(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    data = payload(5000)

    meta = dropbox_client().files_upload(data, "/Station-1/2025/01/Blob.age")

    assert dropbox_emulator.files() == {"/station-1/2025/01/blob.age": data}
    assert meta.size == len(data)
    assert meta.content_hash == sdk_hash(data)
    assert meta.path_display == "/Station-1/2025/01/Blob.age"
    assert meta.path_lower == "/station-1/2025/01/blob.age"
    assert len(meta.rev) >= 9 and int(meta.rev, 16) >= 0
    assert meta.server_modified.microsecond == 0


def test_paths_are_case_insensitive_keep_their_first_case_and_parents_are_implicit(
    dropbox_client: DropboxFactory,
) -> None:
    dbx = dropbox_client()
    dbx.files_upload(b"one", "/Clinic-A/Day1/first.age")

    second = dbx.files_upload(b"two", "/clinic-a/DAY1/Second.age")
    folder = dbx.files_get_metadata("/CLINIC-A/day1")
    found = dbx.files_get_metadata("/clinic-a/day1/FIRST.AGE")

    assert second.path_display == "/Clinic-A/Day1/Second.age"
    assert isinstance(folder, files.FolderMetadata)
    assert folder.path_display == "/Clinic-A/Day1"
    assert isinstance(found, files.FileMetadata)
    assert found.name == "first.age"


def test_get_metadata_of_a_missing_path_is_path_not_found(dropbox_client: DropboxFactory) -> None:
    with pytest.raises(ApiError) as raised:
        dropbox_client().files_get_metadata("/nowhere/x.age")

    assert raised.value.error.is_path()
    assert raised.value.error.get_path().is_not_found()


def test_a_trailing_slash_is_a_malformed_path(dropbox_client: DropboxFactory) -> None:
    with pytest.raises(ApiError) as raised:
        dropbox_client().files_upload(b"x", "/folder/")

    assert raised.value.error.get_path().reason.is_malformed_path()


# ---- write modes ---------------------------------------------------------------------------


def test_identical_content_twice_is_neither_a_conflict_nor_a_second_write(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dbx = dropbox_client()
    first = dbx.files_upload(b"same bytes", "/q/a.age")

    again = dbx.files_upload(b"same bytes", "/q/a.age")

    assert again.rev == first.rev
    assert dropbox_emulator.count_writes() == 1
    assert len(dropbox_emulator.requests("files/upload", status=200)) == 2


def test_different_content_with_add_is_a_file_conflict_and_keeps_the_original(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dbx = dropbox_client()
    dbx.files_upload(b"original", "/q/a.age")

    with pytest.raises(ApiError) as raised:
        dbx.files_upload(b"different", "/q/a.age")

    error = raised.value.error
    assert isinstance(error, files.UploadError) and error.is_path()
    assert error.get_path().reason.is_conflict()
    assert error.get_path().reason.get_conflict().is_file()
    assert error.get_path().upload_session_id
    assert dropbox_emulator.files() == {"/q/a.age": b"original"}


def test_a_failed_upload_hands_back_a_session_that_can_commit_elsewhere(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dbx = dropbox_client()
    dbx.files_upload(b"original", "/q/a.age")
    with pytest.raises(ApiError) as raised:
        dbx.files_upload(b"retry me", "/q/a.age")
    session_id = raised.value.error.get_path().upload_session_id

    cursor = files.UploadSessionCursor(session_id, len(b"retry me"))
    dbx.files_upload_session_finish(b"", cursor, files.CommitInfo("/q/b.age"))

    assert dropbox_emulator.files()["/q/b.age"] == b"retry me"


def test_autorename_resolves_a_conflict_with_a_numbered_name(
    dropbox_client: DropboxFactory,
) -> None:
    dbx = dropbox_client()
    dbx.files_upload(b"first", "/q/scan.age")

    renamed = dbx.files_upload(b"second", "/q/scan.age", autorename=True)

    assert renamed.path_display == "/q/scan (1).age"


def test_overwrite_replaces_content_with_a_new_revision(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dbx = dropbox_client()
    first = dbx.files_upload(b"v1", "/q/a.age")

    second = dbx.files_upload(b"v2", "/q/a.age", mode=files.WriteMode.overwrite)

    assert second.rev != first.rev and second.id == first.id
    assert dropbox_emulator.files() == {"/q/a.age": b"v2"}
    assert dropbox_emulator.count_writes("/q/a.age") == 2


def test_update_writes_only_when_the_revision_matches(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dbx = dropbox_client()
    first = dbx.files_upload(b"v1", "/q/a.age")
    dbx.files_upload(b"v2", "/q/a.age", mode=files.WriteMode.update(first.rev))

    with pytest.raises(ApiError) as raised:
        dbx.files_upload(b"v3", "/q/a.age", mode=files.WriteMode.update(first.rev))

    assert raised.value.error.get_path().reason.get_conflict().is_file()
    assert dropbox_emulator.files() == {"/q/a.age": b"v2"}


def test_strict_conflict_refuses_even_identical_content(dropbox_client: DropboxFactory) -> None:
    dbx = dropbox_client()
    dbx.files_upload(b"same", "/q/a.age")

    with pytest.raises(ApiError) as raised:
        dbx.files_upload(b"same", "/q/a.age", strict_conflict=True)

    assert raised.value.error.get_path().reason.get_conflict().is_file()


def test_uploading_onto_a_folder_is_a_folder_conflict(dropbox_client: DropboxFactory) -> None:
    dbx = dropbox_client()
    dbx.files_create_folder_v2("/q/taken")

    with pytest.raises(ApiError) as raised:
        dbx.files_upload(b"x", "/Q/TAKEN")

    assert raised.value.error.get_path().reason.get_conflict().is_folder()


def test_create_folder_conflicts_unless_autorenamed(dropbox_client: DropboxFactory) -> None:
    dbx = dropbox_client()
    created = dbx.files_create_folder_v2("/Station-1")

    with pytest.raises(ApiError) as raised:
        dbx.files_create_folder_v2("/station-1")
    renamed = dbx.files_create_folder_v2("/station-1", autorename=True)

    assert created.metadata.path_display == "/Station-1"
    assert raised.value.error.get_path().get_conflict().is_folder()
    assert renamed.metadata.name == "station-1 (1)"


# ---- listing -------------------------------------------------------------------------------


def test_list_folder_pages_through_continue_then_reports_only_changes(
    dropbox_client: DropboxFactory,
) -> None:
    dbx = dropbox_client()
    for n in range(5):
        dbx.files_upload(payload(10, n), f"/list/f{n}.age")

    page = dbx.files_list_folder("/list", limit=2)
    seen = [entry.name for entry in page.entries]
    while page.has_more:
        page = dbx.files_list_folder_continue(page.cursor)
        seen += [entry.name for entry in page.entries]
    dbx.files_upload(b"late", "/list/late.age")
    changes = dbx.files_list_folder_continue(page.cursor)

    assert seen == [f"f{n}.age" for n in range(5)]
    assert [entry.name for entry in changes.entries] == ["late.age"]
    assert not changes.has_more


def test_list_folder_recursive_from_the_root_includes_folders_and_files(
    dropbox_client: DropboxFactory,
) -> None:
    dbx = dropbox_client()
    dbx.files_upload(b"x", "/a/b/c.age")

    listing = dbx.files_list_folder("", recursive=True)

    kinds = {e.path_lower: type(e).__name__ for e in listing.entries}
    assert kinds == {"/a": "FolderMetadata", "/a/b": "FolderMetadata", "/a/b/c.age": "FileMetadata"}


def test_list_folder_of_a_file_is_not_folder(dropbox_client: DropboxFactory) -> None:
    dbx = dropbox_client()
    dbx.files_upload(b"x", "/a.age")

    with pytest.raises(ApiError) as raised:
        dbx.files_list_folder("/a.age")

    assert raised.value.error.get_path().is_not_folder()


# ---- team spaces ---------------------------------------------------------------------------


def test_team_path_root_reaches_team_folders_and_the_home_folder_does_not(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    records_ns = dropbox_emulator.add_team_namespace("Clinic Records")
    dbx = dropbox_client()
    account = dbx.users_get_current_account()
    team_dbx = dbx.with_path_root(common.PathRoot.root(account.root_info.root_namespace_id))

    team_dbx.files_upload(b"to the team", "/Clinic Records/2025/a.age")
    dbx.files_upload(b"to my home", "/Clinic Records/2025/a.age")
    top = {e.name for e in team_dbx.files_list_folder("").entries}

    assert isinstance(account.root_info, common.TeamRootInfo)
    assert account.root_info.home_path == "/Records Office"
    assert dropbox_emulator.files(records_ns) == {"/2025/a.age": b"to the team"}
    assert dropbox_emulator.files() == {"/clinic records/2025/a.age": b"to my home"}
    assert top == {"Clinic Records", "Records Office"}
    sent = dropbox_emulator.requests("files/upload")[0].headers["dropbox-api-path-root"]
    assert json.loads(sent) == {".tag": "root", "root": dropbox_emulator.root_namespace_id}


def test_a_wrong_path_root_is_invalid_root_carrying_the_real_one(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    dropbox_emulator.add_team_namespace("Clinic Records")
    dbx = dropbox_client()

    with pytest.raises(PathRootError) as wrong_root:
        dbx.with_path_root(common.PathRoot.root("12345")).files_upload(b"x", "/a.age")
    with pytest.raises(PathRootError) as unknown_ns:
        dbx.with_path_root(common.PathRoot.namespace_id("999")).files_upload(b"x", "/a.age")

    assert wrong_root.value.error.is_invalid_root()
    real = wrong_root.value.error.get_invalid_root()
    assert real.root_namespace_id == dropbox_emulator.root_namespace_id
    assert unknown_ns.value.error.is_no_permission()
    assert dropbox_emulator.count_writes() == 0


# ---- request log ---------------------------------------------------------------------------


def test_request_log_decodes_the_api_arg_and_keeps_raw_bodies(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    marker = b"GPS-MARKER-4711"

    dropbox_client().files_upload(b"head" + marker + b"tail", "/Ärzte/x.age")

    (upload,) = dropbox_emulator.requests("files/upload")
    assert upload.arg["path"] == "/Ärzte/x.age"
    assert "\\u00c4rzte" in upload.headers["dropbox-api-arg"]  # non-ASCII escaped on the wire
    assert upload.body_length == len(b"headtail") + len(marker)
    assert dropbox_emulator.requests_containing(marker) == [upload]
    assert dropbox_emulator.requests_containing("Ärzte".encode()) == [upload]
    assert upload.status == 200 and upload.method == "POST"


# ---- fidelity: every answer decodes strictly -----------------------------------------------


def _decode_strictly(validator: Any, obj: Any) -> None:
    stone_serializers.json_compat_obj_decode(validator, obj, strict=True)  # type: ignore[no-untyped-call]


def _route_object(route: str) -> Any:
    namespace, _, name = route.partition("/")
    version = 1
    if name.endswith("_v2"):
        name, version = name[: -len("_v2")], 2
    routes = {"files": files.ROUTES, "users": dropbox.users.ROUTES}[namespace]
    return routes[name if version == 1 else f"{name}:{version}"]


def test_every_answer_decodes_strictly_with_the_sdk_types(
    dropbox_emulator: DropboxEmulator, dropbox_client: DropboxFactory
) -> None:
    """strict=True also rejects unknown fields, which the SDK itself would let through."""
    dbx = dropbox_client()
    dbx.users_get_current_account()
    dbx.files_upload(b"x", "/f/a.age")
    with pytest.raises(ApiError):
        dbx.files_upload(b"y", "/f/a.age")
    dbx.files_create_folder_v2("/g")
    dbx.files_get_metadata("/f")
    dbx.files_list_folder("", recursive=True)
    session = dbx.files_upload_session_start(b"zz", close=True)
    cursor = files.UploadSessionCursor(session.session_id, 2)
    dbx.files_upload_session_finish_batch_v2(
        [files.UploadSessionFinishArg(cursor, files.CommitInfo("/f/b.age"))]
    )
    with pytest.raises(ApiError):
        dbx.files_get_metadata("/missing")

    decoded = 0
    for record in dropbox_emulator.requests(path="^/2/"):
        route = _route_object(record.route)
        body = json.loads(record.response_body)
        if record.status == 200:
            _decode_strictly(route.result_type, body)
        else:
            assert record.status == 409
            _decode_strictly(route.error_type, body["error"])
        assert record.response_headers["Content-Type"] == "application/json"
        decoded += 1
    assert decoded == 9
