"""One contract, every destination (rclone's fstests, huey's StorageTests).

Each backend joins by adding a factory to DESTINATIONS; the cases below must pass unchanged.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from picsync.destinations import Destination
from picsync.destinations.dropbox import DropboxDestination
from picsync.destinations.folder import FolderDestination
from picsync.errors import BlockedError, PermanentError
from picsync.spool import SpoolFile
from tests.emulators.box_support import make_destination, shared_box_emulator
from tests.emulators.fixtures import DropboxFactory

Factory = Callable[[Path], Destination]


def folder_factory(tmp_path: Path) -> Destination:
    root = tmp_path / "remote"
    root.mkdir()
    return FolderDestination("nas", root)


def box_factory(tmp_path: Path) -> Destination:
    """The real SDK against the Box emulator (plain http, shared); a fresh folder per test."""
    return make_destination(shared_box_emulator())


def dropbox_factory(tmp_path: Path, dropbox_client: DropboxFactory) -> Destination:
    """The real SDK against a fresh Dropbox emulator (fixture dropbox_client)."""
    return DropboxDestination("dbx", dropbox_client(), region="eu", root="/picsync")


DESTINATIONS: dict[str, Callable[..., Destination]] = {
    "folder": folder_factory,
    "box": box_factory,
    "dropbox": dropbox_factory,
}
# Fixtures a factory takes after tmp_path, by name.
FACTORY_FIXTURES: dict[str, tuple[str, ...]] = {"dropbox": ("dropbox_client",)}


@pytest.fixture(params=sorted(DESTINATIONS))
def dest(request: pytest.FixtureRequest, tmp_path: Path) -> Destination:
    factory = DESTINATIONS[request.param]
    fixtures = [request.getfixturevalue(n) for n in FACTORY_FIXTURES.get(request.param, ())]
    return factory(tmp_path, *fixtures)


def payload(tmp_path: Path, data: bytes, name: str = "p.bin") -> SpoolFile:
    path = tmp_path / name
    path.write_bytes(data)
    return SpoolFile(path, len(data))


def test_upload_then_stat(dest: Destination, tmp_path: Path) -> None:
    data = os.urandom(100_000)
    path = payload(tmp_path, data)
    remote = dest.upload("station/2026/11/abc.jpg", path)
    assert remote.size == len(data)
    assert remote.fingerprint == dest.fingerprint(path)
    assert dest.stat("station/2026/11/abc.jpg") == remote


def test_missing_path_stats_none(dest: Destination) -> None:
    assert dest.stat("station/none.jpg") is None


def test_same_bytes_twice_store_one_object(dest: Destination, tmp_path: Path) -> None:
    path = payload(tmp_path, b"same bytes" * 1000)
    first = dest.upload("s/x.jpg", path)
    second = dest.upload("s/x.jpg", path)
    assert first == second


def test_different_bytes_never_silently_replace(dest: Destination, tmp_path: Path) -> None:
    a = payload(tmp_path, b"A" * 5000, "a")
    b = payload(tmp_path, b"B" * 5000, "b")
    stored = dest.upload("s/x.jpg", a)
    with pytest.raises(PermanentError):
        dest.upload("s/x.jpg", b)
    assert dest.stat("s/x.jpg") == stored


def test_empty_payload(dest: Destination, tmp_path: Path) -> None:
    remote = dest.upload("s/empty.jpg", payload(tmp_path, b""))
    assert remote.size == 0


@pytest.mark.parametrize("bad", ["/abs/x.jpg", "../x.jpg", "a/../../x.jpg", ""])
def test_paths_must_stay_inside(dest: Destination, tmp_path: Path, bad: str) -> None:
    with pytest.raises(PermanentError):
        dest.upload(bad, payload(tmp_path, b"x"))


def test_region_is_declared(dest: Destination) -> None:
    assert dest.region


# ---- folder-specific -------------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
        capture_output=True,
    )
    if done.returncode != 0:
        pytest.skip("this machine does not allow mounting tmpfs")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_full_disk_blocks_the_destination(tiny_disk: Path, tmp_path: Path) -> None:
    dest = FolderDestination("nas", tiny_disk)
    with pytest.raises(BlockedError, match="No space left"):
        dest.upload("s/big.jpg", payload(tmp_path, os.urandom(200_000)))
    assert [p.name for p in tiny_disk.rglob("*") if p.is_file()] == []


def test_unmounted_share_blocks_instead_of_filling_the_mount_point(
    tiny_disk: Path, tmp_path: Path
) -> None:
    dest = FolderDestination("nas", tiny_disk)
    dest.upload("s/one.jpg", payload(tmp_path, b"1" * 100))
    subprocess.run(["umount", str(tiny_disk)], check=True)
    with pytest.raises(BlockedError, match="unmounted"):
        dest.upload("s/two.jpg", payload(tmp_path, b"2" * 100))
    assert list(tiny_disk.iterdir()) == []


def test_partial_from_an_interrupted_attempt_is_cleaned(tmp_path: Path) -> None:
    root = tmp_path / "remote"
    (root / "s").mkdir(parents=True)
    stale = root / "s" / ".x.jpg.partial"  # the temp name an interrupted attempt used
    stale.write_bytes(b"half")
    FolderDestination("nas", root).upload("s/x.jpg", payload(tmp_path, b"whole"))
    assert not stale.exists()
    assert (root / "s" / "x.jpg").read_bytes() == b"whole"
