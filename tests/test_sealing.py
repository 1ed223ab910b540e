"""Sealing end to end: the spool and the destination hold only ciphertext that standard age
opens, with a sealed manifest beside every image; plaintext only where a destination opted out."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from picsync.crypto import generate_identity
from tests.helpers import (
    Daemon,
    Site,
    delivered_images,
    make_jpeg,
    open_sealed,
    picsync,
    sha256,
    wait_for,
)

AGE = shutil.which("age")


def manifests(outbox: Path) -> list[Path]:
    return sorted(outbox.rglob("*.json.age"))


def test_uploads_are_age_files_with_sealed_manifests(site: Site, daemons: list[Daemon]) -> None:
    (site.inbox / "Doe_Jane").mkdir()
    data = make_jpeg(1, size=64)
    (site.inbox / "Doe_Jane" / "IMG_0001.JPG").write_bytes(data)
    daemon = Daemon(site).start()
    daemons.append(daemon)
    wait_for(lambda: len(manifests(site.outbox)) == 1, 30, "a delivery")
    assert daemon.terminate() == 0
    (image,) = delivered_images(site.outbox)
    (manifest_path,) = manifests(site.outbox)
    assert image.name.endswith(".jpg.age")
    assert manifest_path.name == image.name.removesuffix(".jpg.age") + ".json.age"
    assert open_sealed(image, site.identity) == data
    assert open_sealed(image, site.escrow) == data  # each recipient alone opens it
    manifest = json.loads(open_sealed(manifest_path, site.identity))
    assert manifest["original_path"] == "Doe_Jane/IMG_0001.JPG"
    assert manifest["image"] == image.name
    assert manifest["source_sha256"] == sha256(data)
    assert manifest["scrubbed_sha256"] == sha256(data)
    assert manifest["station"] == "test-station" and manifest["source"] == "camera"
    assert len(manifest["key_epoch"]) == 12
    assert b"Doe_Jane" not in manifest_path.read_bytes()


@pytest.mark.skipif(AGE is None, reason="Debian's age CLI is not installed")
def test_standard_age_cli_decrypts_what_picsync_uploaded(site: Site, daemons: list[Daemon]) -> None:
    data = make_jpeg(2, size=200)
    (site.inbox / "a.jpg").write_bytes(data)
    daemon = Daemon(site).start()
    daemons.append(daemon)
    wait_for(lambda: len(manifests(site.outbox)) == 1, 30, "a delivery")
    assert daemon.terminate() == 0
    (image,) = delivered_images(site.outbox)
    identity_file = site.root / "office-identity.txt"
    done = subprocess.run(
        [str(AGE), "-d", "-i", str(identity_file), str(image)], capture_output=True, check=True
    )
    assert done.stdout == data
    (manifest_path,) = manifests(site.outbox)
    done = subprocess.run(
        [str(AGE), "-d", "-i", str(identity_file), str(manifest_path)],
        capture_output=True,
        check=True,
    )
    assert json.loads(done.stdout)["original_path"] == "a.jpg"


def test_no_plaintext_image_bytes_in_spool_or_destination(
    site: Site, daemons: list[Daemon]
) -> None:
    images = [make_jpeg(100 + i, size=96) for i in range(40)]
    # Probes: slices from the middle of each image (entropy-coded data, unique per image).
    probes = [data[len(data) // 2 : len(data) // 2 + 48] for data in images]
    seen_spool: list[bytes] = []
    stop = threading.Event()

    def watch_spool() -> None:
        spool = site.state / "spool"
        while not stop.is_set():
            if spool.exists():
                for path in spool.iterdir():
                    with contextlib.suppress(OSError):
                        seen_spool.append(path.read_bytes())
            stop.wait(0.005)

    watcher = threading.Thread(target=watch_spool)
    watcher.start()
    daemon = Daemon(site).start()
    daemons.append(daemon)
    for i, data in enumerate(images):
        (site.inbox / f"IMG_{i}.jpg").write_bytes(data)
    wait_for(lambda: len(manifests(site.outbox)) == len(images), 60, "all deliveries")
    stop.set()
    watcher.join()
    assert daemon.terminate() == 0
    assert seen_spool, "the spool was never observed holding a file"
    stored = [p.read_bytes() for p in site.outbox.rglob("*") if p.is_file()]
    for blob in seen_spool + stored:
        for probe in probes:
            assert probe not in blob
    assert sorted(site.images()) == sorted(sha256(d) for d in images)


def test_plaintext_destination_gets_plaintext_and_a_sealed_manifest(
    site: Site, daemons: list[Daemon]
) -> None:
    plain = site.root / "baa-share"
    plain.mkdir()
    site.write_config(
        source={"destinations": ["outbox", "baa"]},
        destinations={
            "outbox": {"type": "folder", "path": "outbox"},
            "baa": {
                "type": "folder",
                "path": "baa-share",
                "encryption": "none",
                "plaintext_ack": "BAA 2026-014, approved by the privacy officer",
            },
        },
    )
    data = make_jpeg(3, size=80)
    (site.inbox / "b.jpg").write_bytes(data)
    daemon = Daemon(site).start()
    daemons.append(daemon)
    wait_for(lambda: len(manifests(plain)) == 1 and len(manifests(site.outbox)) == 1, 30, "both")
    assert daemon.terminate() == 0
    (plain_image,) = delivered_images(plain)
    assert plain_image.name.endswith(".jpg")
    assert plain_image.read_bytes() == data
    (manifest_path,) = manifests(plain)
    assert json.loads(open_sealed(manifest_path, site.identity))["original_path"] == "b.jpg"
    assert site.images() == [sha256(data)]
    key = site.state / "station-spool-key.txt"
    assert key.stat().st_mode & 0o777 == 0o600
    assert "plaintext (encryption: none)" in daemon.log()
    assert list((site.state / "spool").iterdir()) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {
                "destinations": {
                    "outbox": {"type": "folder", "path": "outbox", "encryption": "none"}
                }
            },
            "destinations.outbox (line",
        ),
        ({"keys": {"recipients": []}}, "keys.recipients"),
        ({"keys": {"recipients": ["age1notarealkey"]}}, "keys.recipients[0] (line"),
    ],
)
def test_bad_key_settings_exit_78(site: Site, change: dict[str, object], expected: str) -> None:
    site.write_config(**change)
    done = picsync("check", "-c", str(site.config))
    assert done.returncode == 78, done.stderr
    assert expected in done.stderr


def test_an_identity_in_the_config_is_refused_without_echoing_it(site: Site) -> None:
    secret = generate_identity().to_string()
    site.config.write_text(site.config.read_text() + f"# {secret}\n")
    done = picsync("check", "-c", str(site.config))
    assert done.returncode == 78
    assert "AGE-SECRET-KEY-..." in done.stderr and "line" in done.stderr
    assert secret not in done.stderr and secret[20:40] not in done.stderr


def test_an_identity_in_the_recipients_file_is_refused(site: Site) -> None:
    recipients = site.root / "recipients.txt"
    recipients.write_text(
        f"# records office\n{site.identity.recipient.to_string()}\n{site.identity.to_string()}\n"
    )
    site.write_config(keys={"recipients_file": "recipients.txt"})
    done = picsync("check", "-c", str(site.config))
    assert done.returncode == 78
    assert "keys.recipients_file (line" in done.stderr
    assert "line 3 holds an age secret key" in done.stderr


def test_one_recipient_warns_about_escrow(site: Site) -> None:
    recipients = site.root / "recipients.txt"
    recipients.write_text(site.identity.recipient.to_string() + "\n")
    site.write_config(keys={"recipients_file": "recipients.txt"})
    done = picsync("check", "-c", str(site.config))
    assert done.returncode == 0
    assert "escrow" in done.stderr
