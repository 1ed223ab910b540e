"""The daemon under systemd's eyes: sd_notify readiness and watchdog, SIGHUP reload."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.helpers import Daemon, Site, delivered_images, make_jpeg, wait_for


class NotifySocket:
    """A real unix datagram socket standing in for systemd's notification socket."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []

    def drain(self) -> list[str]:
        while True:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                return [m for _, m in self.messages]
            self.messages.append((time.monotonic(), data.decode()))

    def since(self, moment: float) -> list[str]:
        self.drain()
        return [m for t, m in self.messages if t >= moment]


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    # A short path: unix socket names are limited to about 100 bytes.
    path = Path(tempfile.gettempdir()) / f"picsync-notify-{time.monotonic_ns()}"
    listener = NotifySocket(path)
    yield listener
    listener.sock.close()
    path.unlink(missing_ok=True)


def test_ready_then_watchdog_pings_while_healthy(
    site: Site, daemons: list[Daemon], notify: NotifySocket
) -> None:
    env = {"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "1000000"}
    daemon = Daemon(site, env=env).start()
    daemons.append(daemon)
    wait_for(lambda: any(m.startswith("READY=1") for m in notify.drain()), 30, "READY=1")
    notify.drain()
    start = time.monotonic()
    time.sleep(2.5)
    pings = [m for m in notify.since(start) if m == "WATCHDOG=1"]
    assert len(pings) >= 3  # every half watchdog interval
    assert daemon.terminate() == 0
    assert any(m.startswith("STOPPING=1") for m in notify.drain())


def test_watchdog_pings_stop_when_a_worker_hangs(
    site: Site, daemons: list[Daemon], notify: NotifySocket
) -> None:
    site.write_config(health={"stall_after": 1.5}, workers=1)
    env = {
        "NOTIFY_SOCKET": str(notify.path),
        "WATCHDOG_USEC": "1000000",
        "PICSYNC_TEST_HANGPOINT": "deliver.uploading",
    }
    daemon = Daemon(site, env=env).start()
    daemons.append(daemon)
    wait_for(lambda: any(m.startswith("READY=1") for m in notify.drain()), 30, "READY=1")
    (site.inbox / "a.jpg").write_bytes(make_jpeg(1))  # its upload hangs for good
    wait_for(lambda: "not pinging the watchdog" in daemon.log(), 30, "the hang to be noticed")
    notify.drain()  # pings sent before the hang was noticed
    quiet_from = time.monotonic()
    time.sleep(2.0)
    assert "WATCHDOG=1" not in notify.since(quiet_from)
    assert "worker-0 made no progress" in daemon.log()
    daemon.kill()


def test_sighup_reloads_a_good_config_and_rejects_a_bad_one(
    site: Site, daemons: list[Daemon]
) -> None:
    daemon = Daemon(site).start()
    daemons.append(daemon)
    wait_for(lambda: '"running"' in daemon.log(), 30, "start")
    assert daemon.proc is not None
    # A bad new configuration: rejected, the old one keeps running.
    good_text = site.config.read_text()
    site.config.write_text(good_text.replace("workers: 2", "workers: many"))
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "configuration reload rejected" in daemon.log(), 30, "rejection")
    (site.inbox / "one.jpg").write_bytes(make_jpeg(2))
    wait_for(lambda: len(delivered_images(site.outbox)) == 1, 30, "delivery after rejection")
    # A good new one: a second destination is added and used from then on.
    second = site.root / "second"
    second.mkdir()
    config = yaml.safe_load(good_text)
    config["destinations"]["second"] = {"type": "folder", "path": "second"}
    config["sources"]["camera"]["destinations"] = ["outbox", "second"]
    site.config.write_text(yaml.safe_dump(config))
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "configuration reloaded" in daemon.log(), 30, "reload")
    (site.inbox / "two.jpg").write_bytes(make_jpeg(3))
    wait_for(lambda: len(delivered_images(second)) == 1, 30, "delivery to the new destination")
    assert len(delivered_images(site.outbox)) == 2
    assert daemon.alive()
    assert daemon.terminate() == 0


def test_blocked_destination_alerts_once_without_phi(site: Site, daemons: list[Daemon]) -> None:
    from tests.alert_receivers import HttpReceiver

    receiver = HttpReceiver().start()
    try:
        nas = site.root / "nas"
        nas.mkdir()
        site.write_config(
            source={"destinations": ["outbox", "nas"]},
            destinations={
                "outbox": {"type": "folder", "path": "outbox"},
                "nas": {"type": "folder", "path": "nas"},
            },
            retry={"base_delay": 0.2, "max_delay": 1, "max_attempts": 50, "blocked_pause": 0.5},
            health={"check_interval": 0.5},
        )
        env = {"PICSYNC_ALERTS__WEBHOOK_URL": receiver.url()}
        daemon = Daemon(site, env=env).start()
        daemons.append(daemon)
        wait_for(lambda: '"running"' in daemon.log(), 30, "start")
        nas.rename(site.root / "nas-away")
        folder = site.inbox / "Doe, Jane"
        folder.mkdir()
        (folder / "MRN12345.jpg").write_bytes(make_jpeg(9))
        assert receiver.wait_for(1, timeout=30), "no alert arrived"
        time.sleep(3.0)  # many more checks while the condition lasts: still one alert
        blocked = [p for p in receiver.posts if b"destination_blocked" in p.body]
        assert len(blocked) == 1
        body = blocked[0].body.decode()
        assert "nas" in body and "test-station" in body
        for planted in ("Doe", "MRN12345", str(site.root)):
            assert planted not in body
        (site.root / "nas-away").rename(nas)
        assert receiver.wait_for(2, timeout=30), "no resolved notice"
        assert b"resolved" in receiver.posts[-1].body
        assert daemon.terminate() == 0
    finally:
        receiver.stop()


# A signal handler runs between two bytecodes of the main thread, possibly while that thread
# holds the log writer's lock. This child holds that lock, takes a SIGTERM and a SIGHUP, and
# must come out: a handler that logged would wait for the lock forever.
_SIGNAL_WHILE_LOGGING = """
import os, signal, sys
import structlog._output as output
from picsync import log
from picsync.daemon import Signals
log.configure("info", "json", roots=[])
signals = Signals().install()
with output._get_lock_for_file(sys.stderr):
    os.kill(os.getpid(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGHUP)
    total = sum(range(1000))  # bytecodes: the handlers run here
print(signals.stop.is_set(), signals.reload.is_set(), signals.stop_signal)
"""


def test_signal_handlers_never_wait_for_the_log_lock() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SIGNAL_WHILE_LOGGING],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "SIGTERM"]
