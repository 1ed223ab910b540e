"""Upload windows and bandwidth limits in the real worker, with an injected clock."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from picsync.audit import AuditLog
from picsync.config import load_config
from picsync.destinations.dropbox import DropboxDestination
from picsync.destinations.folder import FolderDestination
from picsync.ledger import Discovery, Ledger
from picsync.naming import path_key
from picsync.schedule import parse_bandwidth
from picsync.sourcefile import signature_of
from picsync.spool import Spool, SpoolFile
from picsync.statedir import StateDir
from picsync.throttle import RateLimiter
from picsync.upload_stream import UploadSource
from picsync.wiring import Shared, build
from picsync.worker import Worker
from tests.emulators.dropbox import DropboxEmulator
from tests.emulators.fixtures import DropboxFactory
from tests.helpers import Site, delivered_images, make_jpeg

WEDNESDAY_NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC).timestamp()


def worker_for(site: Site, clock: Callable[[], float]) -> Worker:
    config = load_config(site.config)
    state = StateDir(config.settings.state_dir)
    state.create()
    shared = Shared(state, Ledger(state.ledger), Spool(state.spool), AuditLog(state.root))
    generation = build(config, shared)
    parts = dataclasses.replace(generation.workers[0].parts, clock=clock)
    return Worker(parts, threading.Event())


def discover(site: Site, worker: Worker, name: str, data: bytes) -> None:
    path = site.inbox / name
    path.write_bytes(data)
    key = path_key(b"k" * 32, "camera", name)
    worker.parts.ledger.discover_many(
        [Discovery("camera", key, name, signature_of(os.lstat(path)))], time.time()
    )


def test_closed_window_seals_now_and_uploads_when_it_opens(site: Site) -> None:
    site.write_config(
        timezone="UTC",
        destinations={"outbox": {"type": "folder", "path": "outbox", "window": "Wed 13:00-14:00"}},
    )
    now = [WEDNESDAY_NOON]
    worker = worker_for(site, lambda: now[0])
    discover(site, worker, "a.jpg", make_jpeg(1))
    assert worker.step()  # prepared at once: scrubbed and sealed into the spool
    assert worker.parts.ledger.file_counts() == {"spooled": 1}
    assert not worker.step()  # nothing may be uploaded at noon
    assert delivered_images(site.outbox) == []
    now[0] = WEDNESDAY_NOON + 3600 + 5  # 13:00:05, inside the window
    assert worker.step()
    assert len(delivered_images(site.outbox)) == 1
    assert worker.parts.ledger.file_counts() == {"done": 1}  # the source is kept: done at once


def test_window_closing_mid_upload_stops_at_a_chunk_and_waits_for_the_next(site: Site) -> None:
    site.write_config(
        timezone="UTC",
        destinations={
            "outbox": {
                "type": "folder",
                "path": "outbox",
                "window": "Wed 13:00-14:00",
                "bandwidth": "1MiB/s",  # uploading takes seconds: the window shuts meanwhile
            }
        },
    )
    virtual_start = [WEDNESDAY_NOON + 3600 + 1800.0]  # 13:30 while preparing
    real_start = [time.monotonic()]

    def clock() -> float:
        return virtual_start[0] + (time.monotonic() - real_start[0])

    worker = worker_for(site, clock)
    discover(site, worker, "big.jpg", make_jpeg(2, size=1600))
    assert worker.step()  # prepared
    size = worker.parts.ledger.delivery_rows() and (site.state / "spool").stat()
    assert size
    virtual_start[0] = WEDNESDAY_NOON + 2 * 3600 - 1.5  # 13:59:58.5: closes 1.5 s into the upload
    real_start[0] = time.monotonic()
    assert worker.step()
    ledger = worker.parts.ledger
    (delivery,) = ledger.delivery_rows()
    assert delivery[3] == "pending" and delivery[4] == 0  # no attempt used up
    assert delivery[5] == "the upload window closed"
    # No partial file, and no image; the manifest, uploaded beside it, may have landed.
    assert [
        p for p in site.outbox.rglob("*") if p.is_file() and not p.name.endswith(".json.age")
    ] == []
    next_week = datetime(2026, 12, 2, 13, 0, tzinfo=UTC).timestamp()
    assert ledger.next_due(["camera"], ["outbox"]) == pytest.approx(next_week)


@pytest.mark.slow
def test_bandwidth_limit_holds_within_ten_percent(tmp_path: Path) -> None:
    payload = tmp_path / "payload.age"
    payload.write_bytes(os.urandom(20 << 20))
    limit = parse_bandwidth("1MiB/s", UTC)
    limiter = RateLimiter(lambda: limit.rate_at(datetime.now(tz=UTC)))
    (tmp_path / "nas").mkdir()
    destination = FolderDestination("nas", tmp_path / "nas")
    source = UploadSource(SpoolFile(payload, 20 << 20), None, limiter, time.time)
    started = time.monotonic()
    stored = destination.upload("s/x.age", source)
    elapsed = time.monotonic() - started
    rate = (20 << 20) / elapsed
    print(f"bandwidth limit 1 MiB/s: measured {rate / (1 << 20):.3f} MiB/s over 20 MiB")
    assert stored.size == 20 << 20
    assert 0.9 * (1 << 20) <= rate <= 1.1 * (1 << 20)


@pytest.mark.slow
def test_bandwidth_limit_holds_to_the_dropbox_emulator(
    tmp_path: Path, dropbox_client: DropboxFactory, dropbox_emulator: DropboxEmulator
) -> None:
    size = 20 << 20
    payload = tmp_path / "payload.age"
    payload.write_bytes(os.urandom(size))
    limit = parse_bandwidth("1MiB/s", UTC)
    limiter = RateLimiter(lambda: limit.rate_at(datetime.now(tz=UTC)))
    destination = DropboxDestination("dbx", dropbox_client(), region="eu", chunk_size=4 << 20)
    source = UploadSource(SpoolFile(payload, size), None, limiter, time.time)
    started = time.monotonic()
    stored = destination.upload("s/x.age", source, None)
    elapsed = time.monotonic() - started
    rate = size / elapsed
    print(f"bandwidth limit 1 MiB/s to the Dropbox emulator: measured {rate / (1 << 20):.3f} MiB/s")
    assert stored.size == size
    assert dropbox_emulator.files()["/picsync/s/x.age"] == payload.read_bytes()
    assert 0.9 * (1 << 20) <= rate <= 1.1 * (1 << 20)
