"""Residency, mirroring with independent deliveries, source disposition, chain of custody."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.helpers import Daemon, Site, delivered_images, make_jpeg, picsync, sha256, wait_for


def status(site: Site) -> dict[str, object]:
    done = picsync("status", "--json", "-c", str(site.config))
    return json.loads(done.stdout) if done.returncode == 0 else {}


# ---- residency -------------------------------------------------------------------------------


def cloud(region: str) -> dict[str, object]:
    return {"type": "dropbox", "region": region, "app_key": "k"}


def test_route_outside_the_allowed_regions_exits_78_naming_both(site: Site) -> None:
    site.write_config(
        residency={"allowed_regions": ["onprem", "eu"]},
        source={"destinations": ["outbox", "usa"]},
        destinations={"outbox": {"type": "folder", "path": "outbox"}, "usa": cloud("us")},
    )
    for command in ("check", "run"):
        done = picsync(command, "-c", str(site.config))
        assert done.returncode == 78, done.stderr
        assert "route camera -> usa would store files in region 'us'" in done.stderr
        assert "allowed for source 'camera': eu, onprem" in done.stderr


def test_a_source_may_narrow_the_clinic_regions(site: Site) -> None:
    site.write_config(
        residency={"allowed_regions": ["onprem", "eu"]},
        source={"destinations": ["outbox", "euro"], "allowed_regions": ["onprem"]},
        destinations={"outbox": {"type": "folder", "path": "outbox"}, "euro": cloud("eu")},
    )
    done = picsync("check", "-c", str(site.config))
    assert done.returncode == 78
    assert "region 'eu'" in done.stderr and "source 'camera': onprem" in done.stderr


def test_archive_inside_a_watched_folder_is_refused(site: Site) -> None:
    (site.inbox / "archive").mkdir()
    site.write_config(source={"after_upload": "move", "archive_dir": "inbox/archive"})
    done = picsync("check", "-c", str(site.config))
    assert done.returncode == 78
    assert "sources.camera.archive_dir (line" in done.stderr and "outside" in done.stderr


# ---- mirroring and disposition -----------------------------------------------------------


@pytest.mark.parametrize("policy", ["move", "delete"])
def test_one_destination_down_does_not_hold_back_the_other_and_the_source_waits(
    site: Site, daemons: list[Daemon], policy: str
) -> None:
    nas = site.root / "nas"
    nas.mkdir()
    archive = site.root / "archive"
    archive.mkdir()
    source: dict[str, object] = {"destinations": ["outbox", "nas"], "after_upload": policy}
    if policy == "move":
        source["archive_dir"] = "archive"
    site.write_config(
        source=source,
        destinations={
            "outbox": {"type": "folder", "path": "outbox"},
            "nas": {"type": "folder", "path": "nas"},
        },
        retry={"base_delay": 0.2, "max_delay": 1, "max_attempts": 50, "blocked_pause": 1},
    )
    daemon = Daemon(site).start()
    daemons.append(daemon)
    wait_for(lambda: "running" in daemon.log(), 30, "start")
    unplugged = site.root / "nas-unplugged"
    nas.rename(unplugged)  # the NAS goes away
    data = make_jpeg(5)
    (site.inbox / "2026").mkdir()
    photo = site.inbox / "2026" / "IMG_5.jpg"
    photo.write_bytes(data)
    wait_for(lambda: len(delivered_images(site.outbox)) == 1, 30, "the working destination")
    wait_for(lambda: "nas" in (status(site).get("paused") or {}), 30, "the nas paused")
    assert photo.exists()  # not every copy is verified yet
    assert status(site)["files"] == {"spooled": 1}
    unplugged.rename(nas)  # back
    wait_for(lambda: len(delivered_images(nas)) == 1, 30, "the second destination")
    wait_for(lambda: status(site).get("files") == {"done": 1}, 30, "disposition")
    assert not photo.exists()
    if policy == "move":
        assert (archive / "2026" / "IMG_5.jpg").read_bytes() == data
    assert site.images() == [sha256(data)]
    assert daemon.terminate() == 0


def test_quarantined_files_are_never_moved(site: Site, daemons: list[Daemon]) -> None:
    archive = site.root / "archive"
    archive.mkdir()
    site.write_config(source={"after_upload": "move", "archive_dir": "archive"})
    bad = site.inbox / "bad.jpg"
    bad.write_bytes(b"GIF89a" + b"\x00" * 50)
    good = site.inbox / "good.jpg"
    good.write_bytes(make_jpeg(6))
    daemon = Daemon(site).start()
    daemons.append(daemon)
    wait_for(lambda: status(site).get("files") == {"done": 1, "quarantined": 1}, 30, "both")
    assert bad.exists() and not good.exists()
    assert (archive / "good.jpg").exists()
    assert daemon.terminate() == 0


def test_keep_leaves_the_source_and_does_not_send_it_again(
    site: Site, daemons: list[Daemon]
) -> None:
    photo = site.inbox / "keep.jpg"
    photo.write_bytes(make_jpeg(7))
    site.write_config(source={"rescan_interval": 0.5})
    daemon = Daemon(site).start()
    daemons.append(daemon)
    wait_for(lambda: status(site).get("files") == {"done": 1}, 30, "delivery")
    assert daemon.terminate() == 0
    again = Daemon(site).start()
    daemons.append(again)
    wait_for(lambda: again.log().count('"running"') == 2, 30, "the restart")
    time.sleep(1.5)  # several rescans (rescan_interval 0.5 s) see the kept file
    assert photo.exists()
    assert status(site)["files"] == {"done": 1}
    assert len(delivered_images(site.outbox)) == 1
    assert again.terminate() == 0


# ---- the chain of custody ------------------------------------------------------------------


def run_some(site: Site, daemons: list[Daemon], count: int = 3) -> None:
    folder = site.inbox / "Doe, Jane (DOB 1961-07-04)"
    folder.mkdir()
    for i in range(count):
        (folder / f"Smith_John_MRN12345_{i}.jpg").write_bytes(make_jpeg(40 + i))
    daemon = Daemon(site).start()
    daemons.append(daemon)
    wait_for(lambda: status(site).get("files") == {"done": count}, 30, "deliveries")
    assert daemon.terminate() == 0


def audit_lines(site: Site) -> list[str]:
    return (site.state / "audit.jsonl").read_text().splitlines(keepends=True)


def test_audit_log_records_custody_without_phi(site: Site, daemons: list[Daemon]) -> None:
    run_some(site, daemons)
    done = picsync("audit", "verify", "-c", str(site.config))
    assert done.returncode == 0, done.stderr
    text = (site.state / "audit.jsonl").read_text()
    for planted in ("Doe, Jane", "1961-07-04", "Smith_John", "MRN12345"):
        assert planted not in text
    events = [json.loads(line)["event"] for line in audit_lines(site)]
    for event in ("discovered", "scrubbed", "sealed", "uploaded", "disposed"):
        assert events.count(event) == 3, event
    uploaded = next(json.loads(x) for x in audit_lines(site) if '"uploaded"' in x)
    assert uploaded["region"] == "onprem" and uploaded["destination"] == "outbox"
    assert {o["path"].rsplit(".", 2)[-2:][-1] for o in uploaded["objects"]} == {"age"}
    shown = picsync("audit", "show", uploaded["remote_id"], "-c", str(site.config))
    assert shown.returncode == 0
    shown_events = [json.loads(x)["event"] for x in shown.stdout.splitlines()]
    assert shown_events == ["sealed", "uploaded", "disposed"]
    by_file = picsync("audit", "show", str(uploaded["file"]), "-c", str(site.config))
    assert [json.loads(x)["event"] for x in by_file.stdout.splitlines()] == [
        "discovered",
        "scrubbed",
        "sealed",
        "uploaded",
        "disposed",
    ]


def tamper(lines: list[str], how: str) -> list[str]:
    if how == "edit":
        record = json.loads(lines[3])
        record["size"] = 1
        return [
            *lines[:3],
            json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n",
            *lines[4:],
        ]
    if how == "delete":
        return lines[:3] + lines[4:]
    if how == "reorder":
        return [*lines[:3], lines[4], lines[3], *lines[5:]]
    if how == "cut_last":
        return lines[:-1]
    if how == "edit_last":
        record = json.loads(lines[-1])
        record["disposition"] = "deleted"
        return [*lines[:-1], json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"]
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["edit", "delete", "reorder", "cut_last", "edit_last"])
def test_audit_verify_detects_tampering(site: Site, daemons: list[Daemon], how: str) -> None:
    run_some(site, daemons, count=2)
    path: Path = site.state / "audit.jsonl"
    path.write_text("".join(tamper(audit_lines(site), how)))
    done = picsync("audit", "verify", "-c", str(site.config))
    assert done.returncode == 1
    assert "audit log broken at" in done.stderr
    if how in ("edit", "delete", "reorder"):
        assert "record 4" in done.stderr or "record 5" in done.stderr


def test_verify_remote_finds_changed_and_missing_objects(site: Site, daemons: list[Daemon]) -> None:
    run_some(site, daemons, count=3)
    done = picsync("verify-remote", "-c", str(site.config))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "6 ok"  # 3 images and 3 manifests
    images = delivered_images(site.outbox)
    images[0].write_bytes(images[0].read_bytes()[:-1] + b"\x00")
    images[1].unlink()
    done = picsync("audit", "verify-remote", "-c", str(site.config))
    assert done.returncode == 1
    assert "CHANGED\toutbox\t" in done.stderr and "MISSING\toutbox\t" in done.stderr
    assert done.stdout.strip() == "1 changed, 1 missing, 4 ok"
