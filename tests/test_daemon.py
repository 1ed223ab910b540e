"""The daemon as a real subprocess: bursts, kill -9 at random moments, catch-up, the lock."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from pathlib import Path

import pytest

from picsync.daemon import ClockWatch
from tests.helpers import (
    Daemon,
    Site,
    delivered_images,
    make_jpeg,
    picsync,
    sha256,
    wait_for,
)


def status(site: Site) -> dict[str, object]:
    done = picsync("status", "--json", "-c", str(site.config))
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def settled(site: Site, expected: int) -> bool:
    """Every expected file delivered and nothing left waiting."""
    if len(delivered_images(site.outbox)) < expected:
        return False
    snap = status(site)
    return snap["oldest_pending_s"] is None


def spool_files(site: Site) -> list[str]:
    return sorted(os.listdir(site.state / "spool"))


def hidden_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if p.is_file()]


def test_burst_of_1000_files_each_delivered_exactly_once(site: Site, daemons: list[Daemon]) -> None:
    daemon = Daemon(site).start()
    daemons.append(daemon)
    wait_for(lambda: (site.state / "ledger.sqlite3").exists(), 20, "the daemon to start")
    rng = random.Random(1234)
    images = {i: make_jpeg(i) for i in range(1000)}
    plain = list(range(700))
    slow = list(range(700, 800))
    renamed = list(range(800, 900))
    deleted = list(range(900, 1000))

    def write_slowly() -> None:
        # Interleaved slow writers: 100 files grow in 4 pieces, one second apart.
        handles = {i: open(site.inbox / f"slow_{i}.jpg", "wb") for i in slow}  # noqa: SIM115
        for piece in range(4):
            for i, handle in handles.items():
                data = images[i]
                step = len(data) // 4 + 1
                handle.write(data[piece * step : (piece + 1) * step])
                handle.flush()
            time.sleep(1.0)
        for handle in handles.values():
            handle.close()

    slow_writer = threading.Thread(target=write_slowly)
    slow_writer.start()
    for i in plain:
        sub = site.inbox / f"day{i % 7}"
        sub.mkdir(exist_ok=True)
        (sub / f"IMG_{i:04d}.JPG").write_bytes(images[i])
    for i in renamed:
        temp = site.inbox / f".IMG_{i}.JPG.{rng.randrange(10**6)}"
        temp.write_bytes(images[i])
        temp.rename(site.inbox / f"IMG_{i}.JPG")
    for i in deleted:
        doomed = site.inbox / f"gone_{i}.jpg"
        doomed.write_bytes(images[i][: len(images[i]) // 2])
        doomed.unlink()
    slow_writer.join()

    expected = sorted(sha256(images[i]) for i in plain + slow + renamed)
    wait_for(lambda: settled(site, len(expected)), 120, "1000-file burst to drain")
    assert sorted(site.images()) == expected
    snap = status(site)
    assert snap["files"] == {"done": len(expected)}
    assert snap["deliveries"] == {"outbox": {"done": len(expected)}}
    assert spool_files(site) == []
    assert daemon.terminate() == 0


def test_kill_9_at_random_moments_loses_and_duplicates_nothing(
    site: Site, daemons: list[Daemon]
) -> None:
    seed = int(os.environ.get("PICSYNC_TEST_SEED", random.randrange(10**6)))
    rng = random.Random(seed)
    images = [make_jpeg(10_000 + i, size=rng.choice((16, 64, 160))) for i in range(300)]
    stop_writing = threading.Event()

    def writer() -> None:
        for i, data in enumerate(images):
            temp = site.inbox / f".incoming_{i}"
            temp.write_bytes(data)
            temp.rename(site.inbox / f"patient_{i:03d}.jpg")
            time.sleep(rng.uniform(0, 0.03))
        stop_writing.set()

    daemon = Daemon(site).start()
    daemons.append(daemon)
    thread = threading.Thread(target=writer)
    thread.start()
    kills = 0
    while not stop_writing.is_set() or kills < 8:
        time.sleep(rng.uniform(0.2, 1.2))
        daemon.kill()
        kills += 1
        daemon = Daemon(site).start()
        daemons.append(daemon)
    thread.join()
    expected = sorted(sha256(d) for d in images)
    wait_for(lambda: settled(site, len(expected)), 120, f"drain after kills (seed {seed})")
    assert sorted(site.images()) == expected, f"seed {seed}"
    assert spool_files(site) == [], f"seed {seed}"
    assert hidden_files(site.outbox) == [], f"seed {seed}"
    snap = status(site)
    assert snap["files"] == {"done": 300}, f"seed {seed}"
    assert daemon.terminate() == 0


@pytest.mark.parametrize(
    "point",
    [
        "prepare.spool_writing",
        "prepare.spool_renamed",
        "prepare.committed",
        "deliver.uploading",
        "deliver.uploaded",
        "deliver.committed",
    ],
)
def test_every_crash_point_recovers(site: Site, daemons: list[Daemon], point: str) -> None:
    images = [make_jpeg(20_000 + i) for i in range(5)]
    for i, data in enumerate(images):
        (site.inbox / f"IMG_{i}.jpg").write_bytes(data)
    crashing = Daemon(site, env={"PICSYNC_TEST_CRASHPOINT": f"{point}:2"}).start()
    daemons.append(crashing)
    assert crashing.proc is not None
    crashing.proc.wait(timeout=60)
    assert crashing.proc.returncode == -9, crashing.log()
    daemon = Daemon(site).start()
    daemons.append(daemon)
    expected = sorted(sha256(d) for d in images)
    wait_for(lambda: settled(site, len(expected)), 60, f"recovery after {point}")
    assert sorted(site.images()) == expected
    assert spool_files(site) == []
    assert hidden_files(site.outbox) == []
    assert daemon.terminate() == 0


def test_files_that_arrived_while_stopped_are_delivered(site: Site, daemons: list[Daemon]) -> None:
    first = Daemon(site).start()
    daemons.append(first)
    (site.inbox / "before.jpg").write_bytes(make_jpeg(1))
    wait_for(lambda: len(delivered_images(site.outbox)) == 1, 30, "first delivery")
    assert first.terminate() == 0
    while_stopped = [make_jpeg(100 + i) for i in range(20)]
    (site.inbox / "later").mkdir()
    for i, data in enumerate(while_stopped):
        (site.inbox / "later" / f"IMG_{i}.jpg").write_bytes(data)
    second = Daemon(site).start()
    daemons.append(second)
    expected = sorted([sha256(make_jpeg(1))] + [sha256(d) for d in while_stopped])
    wait_for(lambda: settled(site, 21), 60, "catch-up after restart")
    assert sorted(site.images()) == expected
    assert second.terminate() == 0


def test_second_daemon_on_the_same_state_dir_refuses(site: Site, daemons: list[Daemon]) -> None:
    first = Daemon(site).start()
    daemons.append(first)
    wait_for(lambda: "running" in first.log(), 30, "the first daemon to run")
    second = picsync("run", "-c", str(site.config), timeout=30)
    assert second.returncode == 75
    assert "another picsync (pid" in second.stderr
    assert "already running on state directory" in second.stderr
    assert first.alive()
    assert first.terminate() == 0


def test_copy_of_a_delivered_file_is_not_sent_again(site: Site, daemons: list[Daemon]) -> None:
    daemon = Daemon(site).start()
    daemons.append(daemon)
    data = make_jpeg(7)
    (site.inbox / "a.jpg").write_bytes(data)
    wait_for(lambda: settled(site, 1), 30, "first copy")
    (site.inbox / "copy of a.jpg").write_bytes(data)
    wait_for(lambda: status(site)["files"] == {"done": 1, "duplicate": 1}, 30, "duplicate")
    assert site.images() == [sha256(data)]
    assert daemon.terminate() == 0


def test_the_clock_watch_notices_a_backward_step_and_ignores_drift() -> None:
    wall, mono = [1_000_000.0], [50.0]
    watch = ClockWatch(lambda: wall[0], lambda: mono[0])
    wall[0] += 10.0
    mono[0] += 10.0
    assert watch.stepped_back() == 0.0  # both moved together
    wall[0] += 9.0  # drift of a second is not a step
    mono[0] += 10.0
    assert watch.stepped_back() == 0.0
    wall[0] -= 3600.0  # NTP stepped the clock back an hour
    assert watch.stepped_back() == 3600.0
    assert watch.stepped_back() == 0.0  # reported once
    wall[0] += 86_400.0  # forward steps need nothing: every wait is simply over
    assert watch.stepped_back() == 0.0
