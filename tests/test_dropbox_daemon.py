"""The daemon as a real subprocess, uploading to the Dropbox emulator through an unmodified SDK
(``client_environment``: DROPBOX_API_HOST and the test CA): kill mid-upload and resume, many
workers on one namespace, privacy at the wire, a revoked token that pauses and keeps the queue.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from picsync.crypto import decrypt_stream
from picsync.ledger import Ledger
from tests.emulators.dropbox import DropboxEmulator
from tests.emulators.request_log import RequestRecord
from tests.helpers import Daemon, Site, make_jpeg, picsync, sha256, wait_for

MiB = 1024 * 1024
ROOT = "/picsync"
SEALED_MANIFEST = ".json.age"


def use_dropbox(site: Site, emulator: DropboxEmulator, **overrides: Any) -> None:
    """Route the site's camera to a Dropbox destination; the token is a PKCE one (no secret)."""
    token = site.root / "dropbox.token"
    token.write_text(emulator.pkce_refresh_token + "\n")
    token.chmod(0o600)
    destination = {
        "type": "dropbox",
        "region": "eu",
        "app_key": emulator.app_key,
        "refresh_token_file": "dropbox.token",
        "root": ROOT,
        "timeout": 20,
        **overrides.pop("destination", {}),
    }
    site.write_config(
        source={"destinations": ["dbx"]},
        destinations={"dbx": destination},
        residency={"allowed_regions": ["eu"]},
        **overrides,
    )


def deliveries(site: Site) -> dict[str, int]:
    ledger_path = site.state / "ledger.sqlite3"
    if not ledger_path.exists():
        return {}
    ledger = Ledger(ledger_path)
    try:
        return ledger.delivery_counts().get("dbx", {})
    finally:
        ledger.close()


def stored_images(emulator: DropboxEmulator) -> dict[str, bytes]:
    return {p: d for p, d in emulator.files().items() if not p.endswith(SEALED_MANIFEST)}


def chunked_starts(emulator: DropboxEmulator) -> list[Any]:
    """Session starts of chunked uploads. The manifest, a few KB uploaded beside the image,
    goes in one request into a session closed at once (``close``): not one of these."""
    return [r for r in emulator.requests("files/upload_session/start") if not r.arg.get("close")]


def session_ranges(emulator: DropboxEmulator) -> list[tuple[int, int, str]]:
    """(offset, length, outcome) of every request that carried bytes into a chunked upload
    session (not the manifest's one-request session)."""
    ranges = []
    for record in emulator.requests():
        if record.route == "files/upload_session/start" and record.arg.get("close"):
            continue
        if record.route == "files/upload_session/start" and record.body_length:
            ranges.append((0, record.body_length, record.outcome))
        elif record.route == "files/upload_session/append_v2":
            ranges.append((record.arg["cursor"]["offset"], record.body_length, record.outcome))
    return ranges


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


def big_jpeg(path: Path, scan_bytes: int) -> None:
    """A valid JPEG whose entropy-coded data is ``scan_bytes`` zeros, written as a sparse file
    (the scrubber copies scan data without decoding it, so the test needs no 300 MB of RAM)."""
    small = make_jpeg(7)
    sos = small.index(b"\xff\xda")
    (length,) = struct.unpack(">H", small[sos + 2 : sos + 4])
    header = small[: sos + 2 + length]
    incoming = path.with_name("." + path.name + ".incoming")
    with open(incoming, "wb") as handle:
        handle.write(header)
        handle.seek(len(header) + scan_bytes)
        handle.write(b"\xff\xd9")
    incoming.rename(path)


class HashingSink:
    """A write-only sink that keeps only the SHA-256 of what passed through."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return len(data)

    def flush(self) -> None:
        pass


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


# ---- a 300 MB upload killed halfway resumes at the stored offset ---------------------------


@pytest.mark.slow
def test_a_300_mb_upload_killed_halfway_resumes_from_the_stored_offset(
    site: Site,
    dropbox_emulator: DropboxEmulator,
    dropbox_subprocess_env: dict[str, str],
    daemons: list[Daemon],
) -> None:
    chunk = 32 * MiB
    use_dropbox(site, dropbox_emulator, destination={"chunk_size": chunk})
    source = site.inbox / "scan.jpg"
    big_jpeg(source, 300_000_000)
    # The fifth saved offset (start + four appends = 160 MiB of ~286 MiB): kill -9.
    crash = {"PICSYNC_TEST_CRASHPOINT": "dropbox.appended:5"}
    crashing = Daemon(site, env={**dropbox_subprocess_env, **crash})
    daemons.append(crashing.start())
    assert crashing.proc is not None
    crashing.proc.wait(timeout=240)
    assert crashing.proc.returncode == -9, crashing.log()
    before = session_ranges(dropbox_emulator)
    stored_offset = 5 * chunk
    assert sum(n for _, n, _ in before) == stored_offset
    assert stored_images(dropbox_emulator) == {}

    daemon = Daemon(site, env=dropbox_subprocess_env).start()
    daemons.append(daemon)
    wait_for(lambda: deliveries(site).get("done") == 1, 240, "the resumed upload")

    resumed = [json.loads(line) for line in daemon.log().splitlines() if "upload resumed" in line]
    assert [event["offset"] for event in resumed] == [stored_offset]
    after = session_ranges(dropbox_emulator)[len(before) :]
    assert after and all(offset >= stored_offset for offset, _, _ in after)
    ranges = [(offset, n) for offset, n, _ in session_ranges(dropbox_emulator)]
    assert [offset for offset, _ in ranges] == [i * chunk for i in range(len(ranges))]
    assert len(chunked_starts(dropbox_emulator)) == 1  # the same session, resumed
    assert daemon.proc is not None
    peak = peak_rss_mib(daemon.proc.pid)
    print(f"peak RSS of the resuming daemon: {peak:.0f} MiB")
    assert peak < 400  # bounded by the chunk size, not the 300 MB payload
    assert daemon.terminate() == 0
    ((_, sealed),) = stored_images(dropbox_emulator).items()
    assert sum(n for _, n in ranges) == len(sealed)  # every byte sent exactly once
    plain = HashingSink()
    decrypt_stream(io.BytesIO(sealed), plain, [site.identity])  # type: ignore[arg-type]
    assert plain.digest.hexdigest() == sha256_file(source)


# ---- many workers, one namespace; nothing identifying on the wire --------------------------


def jpeg_with_gps(seed: int) -> bytes:
    image = Image.open(io.BytesIO(make_jpeg(seed)))
    exif = Image.Exif()
    exif[0x8825] = {
        1: "N",
        2: (51.0, 30.0, 26.0),
        3: "W",
        4: (0.0, 7.0, 39.0),
        18: "GPS-PLANTED-51N",
    }
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


GPS_NEEDLES = [b"GPS-PLANTED-51N", struct.pack(">IIIIII", 51, 1, 30, 1, 26, 1)]
NAME_NEEDLES = [b"Doe_Jane", b"MRN123", "Doe_Jane".encode("utf-16-le")]


def test_200_files_with_8_workers_land_once_without_write_lock_429s_and_leak_nothing(
    site: Site,
    dropbox_emulator: DropboxEmulator,
    dropbox_subprocess_env: dict[str, str],
    daemons: list[Daemon],
) -> None:
    dropbox_emulator.set_write_lock_limit(1, retry_after=1, hold_seconds=0.01)
    use_dropbox(site, dropbox_emulator, workers=8)
    planted = jpeg_with_gps(500)
    assert all(needle in planted for needle in GPS_NEEDLES)
    images = {i: make_jpeg(i) for i in range(199)}
    daemon = Daemon(site, env=dropbox_subprocess_env).start()
    daemons.append(daemon)
    for i, data in images.items():
        (site.inbox / f"IMG_{i:04d}.jpg").write_bytes(data)
    (site.inbox / "Doe_Jane_MRN123.jpg").write_bytes(planted)

    wait_for(lambda: deliveries(site).get("done") == 200, 180, "200 deliveries")
    assert daemon.terminate() == 0

    sealed = stored_images(dropbox_emulator)
    plain = [open_sealed_bytes(data, site) for data in sealed.values()]
    assert len(sealed) == 200
    assert sorted(sha256(p) for p in plain if p in images.values()) == sorted(
        sha256(d) for d in images.values()
    )
    assert sum(1 for p in plain if p not in images.values()) == 1  # the scrubbed planted one
    assert dropbox_emulator.count_writes() == 400  # 200 images + 200 manifests, once each
    assert dropbox_emulator.requests(status=429) == []
    assert dropbox_emulator.locks.rejections == 0
    batches = dropbox_emulator.requests("files/upload_session/finish_batch_v2")
    assert batches and max(len(b.arg["entries"]) for b in batches) > 1
    for needle in NAME_NEEDLES + GPS_NEEDLES:
        assert dropbox_emulator.requests_containing(needle) == [], needle
    assert not any(mentions_a_time(r) for r in dropbox_emulator.requests())


def open_sealed_bytes(data: bytes, site: Site) -> bytes:
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(data), out, [site.identity])
    return out.getvalue()


def mentions_a_time(record: RequestRecord) -> bool:
    """client_modified, or any other time field, in an upload or commit argument."""
    text = json.dumps(record.arg)
    return "client_modified" in text or "modified" in text or "created" in text


# ---- a revoked token pauses the destination; the queue waits for a new token ---------------


def test_a_revoked_token_pauses_and_keeps_the_queue_until_a_new_token(
    site: Site,
    dropbox_emulator: DropboxEmulator,
    dropbox_subprocess_env: dict[str, str],
    daemons: list[Daemon],
) -> None:
    use_dropbox(
        site,
        dropbox_emulator,
        retry={"base_delay": 0.2, "max_delay": 2, "max_attempts": 3, "blocked_pause": 0.5},
    )
    dropbox_emulator.revoke_refresh_tokens()
    daemon = Daemon(site, env=dropbox_subprocess_env).start()
    daemons.append(daemon)
    images = [make_jpeg(900 + i) for i in range(3)]
    for i, data in enumerate(images):
        (site.inbox / f"IMG_{i}.jpg").write_bytes(data)

    # Paused again and again (more often than max_attempts), yet nothing is dead.
    wait_for(lambda: len(dropbox_emulator.requests("oauth2/token")) >= 8, 60, "repeated pauses")
    assert set(deliveries(site)) <= {"pending", "running"}  # none dead, none done
    assert "picsync auth dropbox -c CONFIG --destination dbx" in daemon.log()
    assert daemon.terminate() == 0
    assert dropbox_emulator.files() == {}

    (site.root / "dropbox.token").write_text(dropbox_emulator.issue_refresh_token(pkce=True) + "\n")
    daemon = Daemon(site, env=dropbox_subprocess_env).start()
    daemons.append(daemon)
    wait_for(lambda: deliveries(site).get("done") == 3, 60, "the queue to drain")
    assert daemon.terminate() == 0

    stored = stored_images(dropbox_emulator)
    assert sorted(sha256(open_sealed_bytes(d, site)) for d in stored.values()) == sorted(
        sha256(d) for d in images
    )
    assert dropbox_emulator.count_writes() == 6


def test_check_online_probes_the_account(
    site: Site, dropbox_emulator: DropboxEmulator, dropbox_subprocess_env: dict[str, str]
) -> None:
    use_dropbox(site, dropbox_emulator, destination={"team_space": True})
    dropbox_emulator.enable_team()

    done = picsync("check", "--online", "-c", str(site.config), env=dropbox_subprocess_env)

    assert done.returncode == 0, done.stderr
    assert (
        "dbx: OK: Dropbox account Records Office (business, team space) writable at /picsync"
        in done.stdout
    )
