"""Scrubbing inside the running daemon: what leaves is clean, what cannot be cleaned is
quarantined with a reason, identity rules feed only the sealed manifest and a pseudonym."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import Daemon, Site, delivered_images, open_sealed, picsync, wait_for
from tests.scrub.planted import (
    exiftool_hits,
    exiftool_report,
    make_jpeg,
    planted_hits,
    planted_jpeg,
)


def status(site: Site) -> dict[str, object]:
    done = picsync("status", "--json", "-c", str(site.config))
    if done.returncode != 0:  # the daemon has not created its ledger yet
        return {}
    result: dict[str, object] = json.loads(done.stdout)
    return result


def manifests(site: Site) -> list[dict[str, object]]:
    return [
        json.loads(open_sealed(path, site.identity)) for path in site.outbox.rglob("*.json.age")
    ]


def test_uploaded_image_carries_no_planted_identifier(
    site: Site, daemons: list[Daemon], tmp_path: Path
) -> None:
    dirty = planted_jpeg()
    assert planted_hits(dirty)  # the oracle sees them in the input
    (site.inbox / "IMG_0001.JPG").write_bytes(dirty)
    daemon = Daemon(site).start()
    daemons.append(daemon)
    wait_for(lambda: len(list(site.outbox.rglob("*.json.age"))) == 1, 30, "a delivery")
    assert daemon.terminate() == 0
    (image,) = delivered_images(site.outbox)
    clean = open_sealed(image, site.identity)
    assert planted_hits(clean) == []
    assert exiftool_hits(exiftool_report(clean, tmp_path)) == []
    (manifest,) = manifests(site)
    assert manifest["format"] == "jpeg"
    assert "APP1 Exif" in manifest["removed"]  # type: ignore[operator]
    assert manifest["capture_time"]


def test_unsupported_file_is_quarantined_and_can_be_released(
    site: Site, daemons: list[Daemon]
) -> None:
    gif = b"GIF89a" + b"\x01\x00\x01\x00\x00\x00\x00;" + b"\x00" * 64
    (site.inbox / "not-really.jpg").write_bytes(gif)
    (site.inbox / "fine.jpg").write_bytes(make_jpeg())
    daemon = Daemon(site).start()
    daemons.append(daemon)
    wait_for(
        lambda: status(site).get("files") == {"done": 1, "quarantined": 1},
        30,
        "one file quarantined",
    )
    snap = status(site)
    reasons = [e["error"] for e in snap["last_errors"]]  # type: ignore[union-attr]
    assert any("GIF" in reason for reason in reasons)
    listed = picsync("quarantine", "list", "-c", str(site.config))
    assert "not-really.jpg" in listed.stdout and "GIF" in listed.stdout
    assert len(delivered_images(site.outbox)) == 1
    file_id = listed.stdout.split("\t")[0]
    released = picsync("quarantine", "release", file_id, "-c", str(site.config))
    assert released.returncode == 0 and "1 released" in released.stdout
    # Still a GIF: it comes back to quarantine, and the source file is still there, untouched.
    wait_for(lambda: status(site).get("files") == {"done": 1, "quarantined": 1}, 30, "requarantine")
    assert (site.inbox / "not-really.jpg").read_bytes() == gif
    bad = picsync("quarantine", "release", "999", "-c", str(site.config))
    assert bad.returncode == 1 and "not in quarantine: 999" in bad.stderr
    assert daemon.terminate() == 0


def test_identity_rule_gives_a_stable_pseudonym_and_a_sealed_identifier(
    site: Site, daemons: list[Daemon]
) -> None:
    key = site.root / "clinic.key"
    key.write_text("a clinic-wide pseudonym key, kept secret\n")
    key.chmod(0o600)
    site.write_config(
        source={"identity_pattern": r"^(?P<mrn>\d{6,10})/"},
        destinations={
            "outbox": {"type": "folder", "path": "outbox", "template": "{station}/{patient}/{id}"}
        },
        privacy={"hash_key_file": "clinic.key"},
    )
    for folder, seed in (("1234567", 1), ("1234567", 2), ("7654321", 3)):
        (site.inbox / folder).mkdir(exist_ok=True)
        (site.inbox / folder / f"IMG_{seed}.jpg").write_bytes(make_jpeg(size=(16 + seed, 16)))
    daemon = Daemon(site).start()
    daemons.append(daemon)
    wait_for(lambda: len(list(site.outbox.rglob("*.json.age"))) == 3, 30, "three deliveries")
    assert daemon.terminate() == 0
    folders = sorted(p.parent.name for p in delivered_images(site.outbox))
    assert len(set(folders)) == 2 and folders.count(folders[0]) in (1, 2)
    assert all(name.startswith("p") and len(name) == 17 for name in folders)
    remote_text = "\n".join(str(p) for p in site.outbox.rglob("*"))
    assert "1234567" not in remote_text and "7654321" not in remote_text
    by_mrn = {m["identifiers"]["mrn"] for m in manifests(site)}  # type: ignore[index]
    assert by_mrn == {"1234567", "7654321"}


def test_patient_template_without_a_clinic_key_is_refused(site: Site) -> None:
    site.write_config(
        destinations={"outbox": {"type": "folder", "path": "outbox", "template": "{patient}/{id}"}}
    )
    done = picsync("check", "-c", str(site.config))
    assert done.returncode == 78
    assert "destinations.outbox.template (line" in done.stderr and "hash_key_file" in done.stderr


def test_scrub_command_writes_copies_manifest_and_report(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    (inbox / "Doe, Jane").mkdir(parents=True)
    (inbox / "Doe, Jane" / "IMG_1.jpg").write_bytes(planted_jpeg())
    (inbox / "odd.jpg").write_bytes(b"GIF89a" + b"\x00" * 40)
    out = tmp_path / "out"
    done = picsync("scrub", str(inbox), "--out", str(out))
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest == {"Doe, Jane/IMG_1.jpg": "Doe, Jane/IMG_1.jpg", "odd.jpg": None}
    report = json.loads((out / "report.json").read_text())
    assert report["Doe, Jane/IMG_1.jpg"]["format"] == "jpeg"
    assert "GPS" in report["Doe, Jane/IMG_1.jpg"]["removed"]
    assert "GIF" in report["odd.jpg"]["refused"]
    assert planted_hits((out / "Doe, Jane" / "IMG_1.jpg").read_bytes()) == []
    assert not (out / "odd.jpg").exists()
