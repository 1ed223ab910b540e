"""The real daemon (a subprocess) against the Box emulator: a 100 MB upload killed halfway and
resumed without re-sending a part, and what the wire shows of a photo (nothing identifying)."""

from __future__ import annotations

import hashlib
import io
import os
import struct
from typing import Any

from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from picsync.crypto import decrypt_stream
from tests.emulators.box import BoxEmulator
from tests.helpers import Daemon, Site, make_jpeg, wait_for

pytest_plugins = ["tests.emulators.box_fixtures"]

MiB = 1 << 20
PART_SIZE = 8 * MiB
BIG_SIZE = 100_000_000
CRASH_AFTER_PARTS = 6
GPS_NEEDLE = struct.pack(">II", 123456789, 1000000)  # a GPS rational as Pillow writes it
SHOT_AT = b"2019:03:04 05:06:07"
ORIGINAL_NAME = "Testpatient_Jane_MRN-0042-FAKE.jpg"


def box_site(site: Site, emu: BoxEmulator, **destination: Any) -> None:
    box = {
        "type": "box",
        "region": "us",
        "folder_id": emu.create_folder("Clinic"),
        "auth": "ccg",
        "client_id": emu.client_id,
        "enterprise_id": emu.enterprise_id,
        **destination,
    }
    site.write_config(
        source={"destinations": ["box"]},
        destinations={"box": box},
        residency={"allowed_regions": ["onprem", box["region"]]},
    )


def drop(site: Site, name: str, data: bytes) -> None:
    """Appear in the inbox complete (written beside it, then renamed in)."""
    staging = site.root / ("." + name)
    staging.write_bytes(data)
    staging.rename(site.inbox / name)


def big_jpeg(size: int) -> bytes:
    """A valid JPEG of `size` bytes: a small image whose entropy-coded data is padded with
    noise free of 0xFF (so no marker appears); the scrubber copies it byte for byte."""
    small = make_jpeg(7, size=64)
    sos = small.index(b"\xff\xda")
    header_end = sos + 2 + int.from_bytes(small[sos + 2 : sos + 4], "big")
    filler = os.urandom(size - len(small)).translate(bytes(range(255)) + b"\xfe")
    return small[:header_end] + filler + small[header_end:]


def uploads_settled(emu: BoxEmulator, count: int) -> bool:
    return len(emu.files()) >= count


def test_a_100_mb_upload_killed_halfway_resumes_without_resending_a_part(
    site: Site,
    daemons: list[Daemon],
    box_emulator: BoxEmulator,
    box_subprocess_env: dict[str, str],
) -> None:
    box_emulator.set_part_size(PART_SIZE)
    box_site(site, box_emulator)
    photo = big_jpeg(BIG_SIZE)
    crashing = Daemon(
        site,
        env={
            **box_subprocess_env,
            "PICSYNC_TEST_CRASHPOINT": f"box.part_uploaded:{CRASH_AFTER_PARTS}",
        },
    ).start()
    daemons.append(crashing)
    drop(site, "IMG_0001.jpg", photo)
    assert crashing.proc is not None
    assert crashing.proc.wait(timeout=120) == -9, crashing.log()  # SIGKILLed itself
    before = [
        r.headers["content-range"] for r in box_emulator.requests("sessions.part", status=200)
    ]
    assert len(before) == CRASH_AFTER_PARTS
    # Only the manifest, uploaded beside the image, may have landed: no image yet.
    assert [name for name in box_emulator.files() if not name.endswith(".json.age")] == []

    resumed = Daemon(site, env=box_subprocess_env).start()
    daemons.append(resumed)
    wait_for(lambda: uploads_settled(box_emulator, 2), 120, "image and manifest on Box")
    assert resumed.terminate() == 0

    parts = [r.headers["content-range"] for r in box_emulator.requests("sessions.part")]
    total_parts = -(
        -len(next(d for d in box_emulator.files().values() if len(d) > MiB)) // PART_SIZE
    )
    assert len(parts) == len(set(parts)) == total_parts  # every part sent exactly once
    assert parts[:CRASH_AFTER_PARTS] == before
    assert len(box_emulator.requests("sessions.create", status=201)) == 1  # the same session
    assert len(box_emulator.requests("sessions.parts")) >= 1  # asked the server what it had
    assert [r.status for r in box_emulator.requests("sessions.commit")] == [201]
    (image,) = [d for d in box_emulator.files().values() if len(d) > MiB]
    plain = io.BytesIO()
    decrypt_stream(io.BytesIO(image), plain, [site.identity])
    scrubbed = plain.getvalue()
    assert scrubbed[:2] == b"\xff\xd8" and scrubbed[-2:] == b"\xff\xd9"
    assert photo[len(photo) // 2 : len(photo) // 2 + MiB] in scrubbed  # the pixels, intact
    commits = box_emulator.commits()
    assert sorted(c.created for c in commits) == [True, True]  # image + manifest, no versions
    assert {c.sha1 for c in commits} == {
        hashlib.sha1(d).hexdigest() for d in box_emulator.files().values()
    }


def gps_photo() -> bytes:
    image = Image.new("RGB", (48, 48), (10, 200, 30))
    exif = Image.Exif()
    exif[0x010F] = "FakeCam Optics Ltd"  # Make
    exif[0x0132] = SHOT_AT.decode()  # DateTime
    gps = exif.get_ifd(0x8825)
    gps[1], gps[3] = "N", "E"
    gps[2] = (IFDRational(52, 1), IFDRational(31, 1), IFDRational(123456789, 1000000))
    gps[4] = (IFDRational(13, 1), IFDRational(24, 1), IFDRational(987654321, 1000000))
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, quality=95)
    return out.getvalue()


def test_the_wire_carries_no_name_no_gps_and_no_dates(
    site: Site,
    daemons: list[Daemon],
    box_emulator: BoxEmulator,
    box_subprocess_env: dict[str, str],
) -> None:
    """Plaintext by exception (a BAA destination), so the image bytes on the wire can be read:
    the scrubbed photo goes up, its GPS and capture time do not, nor does its file name."""
    photo = gps_photo()
    assert GPS_NEEDLE in photo and SHOT_AT in photo  # the oracle can see them when present
    box_site(
        site,
        box_emulator,
        encryption="none",
        plaintext_ack="BAA 2026-014, approved by the privacy officer (test)",
    )
    daemon = Daemon(site, env=box_subprocess_env).start()
    daemons.append(daemon)
    drop(site, ORIGINAL_NAME, photo)
    wait_for(lambda: uploads_settled(box_emulator, 2), 60, "image and manifest on Box")
    assert daemon.terminate() == 0

    uploads = box_emulator.requests("files.upload")
    assert any(b"\xff\xd8\xff" in r.body for r in uploads)  # the plaintext JPEG did go up
    for needle in (ORIGINAL_NAME.encode(), b"Testpatient", b"MRN-0042", GPS_NEEDLE, SHOT_AT):
        assert box_emulator.requests_containing(needle) == [], needle
    for record in box_emulator.requests():
        arg = record.arg if isinstance(record.arg, dict) else {}
        assert not {"content_created_at", "content_modified_at"} & set(arg), record.route
        assert "content_created_at" not in str(record.query)
    names = [r.arg["name"] for r in uploads]
    assert all(not n.startswith("IMG") and "Jane" not in n for n in names)
