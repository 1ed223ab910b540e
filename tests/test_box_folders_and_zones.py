"""Box destination: folder ids and their cache, name conflicts, auth choices, the zone check."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from picsync.config.destinations import BoxDestinationSettings
from picsync.destinations.box_client import base_urls_from, connect
from picsync.destinations.box_zones import RegionMismatchError, zone_regions
from picsync.errors import BlockedError, ConfigError, PermanentError
from picsync.spool import SpoolFile
from tests.emulators.box import BoxEmulator
from tests.emulators.box_support import (
    DestinationFactory,
    DictCache,
    JwtKey,
    jwt_config_text,
)
from tests.emulators.faults import Fault

pytest_plugins = ["tests.emulators.box_fixtures"]


def spooled(tmp_path: Path, data: bytes, name: str = "payload.age") -> SpoolFile:
    path = tmp_path / name
    path.write_bytes(data)
    return SpoolFile(path, len(data))


# ---- folders ----------------------------------------------------------------------------------


def test_folders_are_created_once_and_their_ids_cached(
    box_emulator: BoxEmulator, box_destination: DestinationFactory, tmp_path: Path
) -> None:
    cache = DictCache()
    dest = box_destination(cache=cache)
    dest.upload("station/2026/11/a.age", spooled(tmp_path, b"a", "a"))
    dest.upload("station/2026/11/b.age", spooled(tmp_path, b"b", "b"))
    dest.upload("Station/2026/12/c.age", spooled(tmp_path, b"c", "c"))  # Box ignores case
    created = [r.arg["name"] for r in box_emulator.requests("folders.create", status=201)]
    assert created == ["station", "2026", "11", "12"]
    assert len([k for k in cache.values if k.startswith("folder:")]) == 4
    # A second process with the same durable cache creates nothing.
    again = box_destination(cache=cache, folder_id=dest._folders.root())
    again.upload("station/2026/11/d.age", spooled(tmp_path, b"d", "d"))
    assert len(box_emulator.requests("folders.create")) == 4


@pytest.mark.parametrize("shape", ["list", "object"])
def test_existing_folder_is_reused_from_the_409(
    shape: str, box_emulator: BoxEmulator, box_destination: DestinationFactory, tmp_path: Path
) -> None:
    box_emulator.set_conflict_shape(shape, folders=True)  # type: ignore[arg-type]
    root = box_emulator.create_folder("Clinic")
    existing = box_emulator.create_folder("STATION", parent_id=root)
    box_destination(folder_id=root).upload("station/a.age", spooled(tmp_path, b"a"))
    assert box_emulator.requests("folders.create")[0].status == 409
    assert box_emulator.store.child(existing, "a.age") is not None
    assert box_emulator.folders_named("station") == [existing]


def test_concurrent_uploads_create_each_folder_once(
    box_emulator: BoxEmulator, box_destination: DestinationFactory, tmp_path: Path
) -> None:
    """Box itself may create duplicate folders under concurrent creates (the emulator does
    when told to, and is slowed down to widen the window): picsync must not race itself."""
    box_emulator.allow_duplicate_folders()
    box_emulator.add_fault(Fault(path=r"^/2\.0/folders$", delay_before_response=0.2, times=None))
    dest = box_destination()
    errors: list[BaseException] = []

    def send(n: int) -> None:
        try:
            dest.upload(f"station/2026/11/{n}.age", spooled(tmp_path, bytes([n]) * 100, str(n)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for name in ("station", "2026", "11"):
        assert len(box_emulator.folders_named(name)) == 1, name
    assert len(box_emulator.files()) == 6


def test_a_folder_deleted_on_box_is_made_again(
    box_emulator: BoxEmulator, box_destination: DestinationFactory, tmp_path: Path
) -> None:
    dest = box_destination()
    dest.upload("station/2026/11/a.age", spooled(tmp_path, b"a", "a"))
    box_emulator.delete(box_emulator.folders_named("11")[0])
    dest.upload("station/2026/11/b.age", spooled(tmp_path, b"b", "b"))
    assert [p.rsplit("/", 4)[-4:] for p in box_emulator.files()] == [
        ["station", "2026", "11", "b.age"]
    ]


def test_root_by_path_is_resolved_once_and_never_created(
    box_emulator: BoxEmulator, box_destination: DestinationFactory, tmp_path: Path
) -> None:
    clinic = box_emulator.create_folder("Clinic")
    target = box_emulator.create_folder("Photos", parent_id=clinic)
    cache = DictCache()
    dest = box_destination(folder_path="/clinic/photos", cache=cache)
    dest.upload("a.age", spooled(tmp_path, b"a", "a"))
    dest.upload("b.age", spooled(tmp_path, b"b", "b"))
    assert box_emulator.store.child(target, "b.age") is not None
    assert len(box_emulator.requests("folders.items")) == 2  # one listing per level, once
    missing = box_destination(folder_path="/Clinic/Nope")
    with pytest.raises(BlockedError, match="folder_path does not exist"):
        missing.upload("c.age", spooled(tmp_path, b"c", "c"))
    assert box_emulator.requests("folders.create") == []


# ---- conflicts --------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["object", "list"])
def test_same_bytes_again_is_our_earlier_attempt(
    shape: str, box_emulator: BoxEmulator, box_destination: DestinationFactory, tmp_path: Path
) -> None:
    box_emulator.set_conflict_shape(shape)  # type: ignore[arg-type]
    dest = box_destination()
    source = spooled(tmp_path, os.urandom(3000))
    assert dest.upload("s/x.age", source) == dest.upload("s/x.age", source)
    assert len(box_emulator.commits()) == 1
    assert [r.status for r in box_emulator.requests("files.preflight")] == [200, 409]


@pytest.mark.parametrize("shape", ["object", "list"])
def test_different_bytes_are_refused_and_left_alone(
    shape: str, box_emulator: BoxEmulator, box_destination: DestinationFactory, tmp_path: Path
) -> None:
    box_emulator.set_conflict_shape(shape)  # type: ignore[arg-type]
    dest = box_destination()
    first = dest.upload("s/x.age", spooled(tmp_path, b"A" * 100, "a"))
    with pytest.raises(PermanentError, match="refusing to overwrite"):
        dest.upload("s/X.age", spooled(tmp_path, b"B" * 100, "b"))
    assert dest.stat("s/x.age") == first
    assert [c.created for c in box_emulator.commits()] == [True]  # no new version either


def test_a_folder_with_the_file_name_is_refused(
    box_emulator: BoxEmulator, box_destination: DestinationFactory, tmp_path: Path
) -> None:
    root = box_emulator.create_folder("Clinic")
    box_emulator.create_folder("x.age", parent_id=root)
    with pytest.raises(PermanentError, match="folder"):
        box_destination(folder_id=root).upload("x.age", spooled(tmp_path, b"x"))


# ---- auth and configuration ------------------------------------------------------------------


def test_jwt_app_configuration_authenticates(
    box_emulator: BoxEmulator, box_destination: DestinationFactory, tmp_path: Path, jwt_key: JwtKey
) -> None:
    text = jwt_config_text(box_emulator, jwt_key)
    dest = box_destination(
        auth="jwt", jwt_config_file="config.json", secrets_={"jwt_config_file": text}
    )
    remote = dest.upload("s/j.age", spooled(tmp_path, b"jwt"))
    assert remote.fingerprint == hashlib.sha1(b"jwt").hexdigest()
    token_call = box_emulator.requests("oauth2/token")[0].arg
    assert token_call["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"


def test_ccg_as_a_user(
    box_emulator: BoxEmulator, box_destination: DestinationFactory, tmp_path: Path
) -> None:
    user = box_emulator.add_user("Clinic Uploader")
    dest = box_destination(enterprise_id=None, user_id=user)
    dest.upload("s/u.age", spooled(tmp_path, b"u"))
    form = box_emulator.requests("oauth2/token")[0].arg
    assert (form["box_subject_type"], form["box_subject_id"]) == ("user", user)


def test_missing_secrets_are_configuration_errors(box_emulator: BoxEmulator) -> None:
    settings = BoxDestinationSettings(
        type="box", region="us", folder_id="1", client_id="c", enterprise_id="1"
    )
    with pytest.raises(ConfigError, match="client_secret_file"):
        connect(settings, {}, "clinic-box", {})
    jwt = settings.model_copy(update={"auth": "jwt"})
    with pytest.raises(ConfigError, match="not a Box app configuration"):
        connect(jwt, {"jwt_config_file": '{"nothing": 1}'}, "clinic-box", {})


@pytest.mark.parametrize(
    ("base", "upload", "ok"),
    [
        ("https://box-gateway.example/api", "https://box-gateway.example/upload", True),
        ("http://127.0.0.1:9", "http://127.0.0.1:9/upload/api", True),
        ("http://box-gateway.example", "http://box-gateway.example/up", False),  # plain text
        ("https://box-gateway.example", "", False),  # both or neither
    ],
)
def test_base_url_seam_is_checked(base: str, upload: str, ok: bool) -> None:
    environ = {"PICSYNC_BOX_BASE_URL": base, "PICSYNC_BOX_UPLOAD_URL": upload}
    if ok:
        urls, redirected = base_urls_from(environ)
        assert (urls.base_url, urls.upload_url, redirected) == (base, upload, base)
    else:
        with pytest.raises(ConfigError, match="PICSYNC_BOX_"):
            base_urls_from(environ)
    default, none = base_urls_from({})
    assert (default.base_url, none) == ("https://api.box.com", None)


# ---- Box Zones ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "region", "copies"),
    [
        ("US", "us", []),
        ("Montreal / Dublin", "ca", ["Dublin"]),
        ("Frankfurt / Dublin", "de", ["Dublin"]),
        ("Dublin / Amsterdam", "ie", ["Amsterdam"]),
        ("London / Cardiff", "uk", ["Cardiff"]),
        ("Tokyo & Singapore", "jp", ["Singapore"]),
        ("Singapore", "sg", []),
        ("Sydney / Melbourne", "au", ["Melbourne"]),
        ("Paris / Frankfurt", "fr", ["Frankfurt"]),
        ("Atlantis", None, []),
    ],
)
def test_zone_names_map_to_regions(name: str, region: str | None, copies: list[str]) -> None:
    assert zone_regions(name) == (region, copies)


def test_probe_reports_a_matching_zone(
    box_emulator: BoxEmulator, box_destination: DestinationFactory
) -> None:
    box_emulator.assign_zone("Frankfurt / Dublin")
    line = box_destination(region="de").probe()
    assert "Box Zone 'Frankfurt / Dublin' is region de" in line
    assert "accepts uploads" in line and box_emulator.url in line
    assert box_emulator.files() == {}  # the write proof leaves nothing behind
    assert box_emulator.requests("files.preflight")[0].arg["name"].startswith(".picsync-probe-")


def test_the_folder_owners_zone_is_what_counts(
    box_emulator: BoxEmulator, box_destination: DestinationFactory, tmp_path: Path
) -> None:
    box_emulator.assign_zone("US")  # the enterprise, and so the service account
    owner = box_emulator.add_user("Clinic Records")
    box_emulator.assign_zone("Montreal / Dublin", user_id=owner)
    folder = box_emulator.create_folder("Records", owner_id=owner)
    dest = box_destination(folder_id=folder, region="ca")
    assert "is region ca, as declared" in dest.probe()
    dest.upload("s/a.age", spooled(tmp_path, b"a"))
    with pytest.raises(RegionMismatchError, match="declares region us"):
        box_destination(folder_id=folder, region="us").probe()


def test_a_mismatching_zone_blocks_uploads_before_any_byte_is_sent(
    box_emulator: BoxEmulator, box_destination: DestinationFactory, tmp_path: Path
) -> None:
    box_emulator.assign_zone("Tokyo / Singapore")
    dest = box_destination(region="au")
    with pytest.raises(BlockedError, match="declares region au"):
        dest.upload("s/a.age", spooled(tmp_path, b"a"))
    assert box_emulator.requests("files.preflight") == []
    assert box_emulator.requests("folders.create") == []
    assert box_emulator.requests("files.upload") == []
    with pytest.raises(RegionMismatchError, match="Tokyo / Singapore"):
        dest.probe()


def test_a_forbidden_zone_is_declared_only(
    box_emulator: BoxEmulator, box_destination: DestinationFactory, tmp_path: Path
) -> None:
    box_emulator.assign_zone("Tokyo / Singapore")
    box_emulator.set_policies_readable(False)
    dest = box_destination(region="uk")
    line = dest.probe()
    assert "region uk declared only (the service account may not read its storage policy)" in line
    dest.upload("s/a.age", spooled(tmp_path, b"a"))
    assert len(box_emulator.files()) == 1


def test_an_unknown_zone_name_is_reported_not_guessed(
    box_emulator: BoxEmulator, box_destination: DestinationFactory
) -> None:
    box_emulator.assign_zone("Atlantis / Lemuria")
    line = box_destination(region="us").probe()
    assert "region us declared only (Box Zone 'Atlantis / Lemuria' is not in picsync's" in line
