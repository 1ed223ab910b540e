"""sd_notify against real unix datagram sockets bound by the test, as systemd binds its own."""

from __future__ import annotations

import os
import select
import signal
import socket
import struct
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from picsync.sdnotify import Notifier
from tests.helpers import Daemon, Site

# struct ucred: pid, uid, gid (three C ints)
UCRED = struct.Struct("3i")


class Receiver:
    """A bound SOCK_DGRAM socket standing in for systemd's notification socket."""

    def __init__(self, address: str) -> None:
        self.address = address  # as NOTIFY_SOCKET spells it: a path or "@name"
        raw = "\0" + address[1:] if address.startswith("@") else address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        # systemd reads the sender's credentials to apply NotifyAccess=main; so do we.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(raw)
        self.sock.settimeout(5.0)

    def message(self) -> str:
        data, _, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(UCRED.size))
        return data.decode("utf-8")

    def message_and_pid(self) -> tuple[str, int]:
        data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(UCRED.size))
        pids = [
            UCRED.unpack(cdata[: UCRED.size])[0]
            for level, kind, cdata in ancillary
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS
        ]
        assert len(pids) == 1
        return data.decode("utf-8"), pids[0]

    def pending(self) -> bool:
        """True when a datagram is waiting to be read."""
        readable, _, _ = select.select([self.sock], [], [], 0)
        return bool(readable)

    def close(self) -> None:
        self.sock.close()
        if not self.address.startswith("@"):
            Path(self.address).unlink(missing_ok=True)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder with a short path: unix socket paths are limited to 107 bytes (pytest's
    tmp_path can be longer)."""
    folder = Path(tempfile.mkdtemp(prefix="picsync-sdn-"))
    yield folder
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()


@pytest.fixture(params=["path", "abstract"])
def receiver(request: pytest.FixtureRequest, short_dir: Path) -> Iterator[Receiver]:
    if request.param == "path":
        address = str(short_dir / "notify")
    else:
        address = f"@picsync-test/{uuid.uuid4().hex}"
    rx = Receiver(address)
    yield rx
    rx.close()


def notifier_for(rx: Receiver, **env: str) -> Notifier:
    return Notifier(environ={"NOTIFY_SOCKET": rx.address, **env})


def fields(message: str) -> dict[str, str]:
    """A notification as systemd parses it: one KEY=value per line."""
    result: dict[str, str] = {}
    for line in message.split("\n"):
        key, sep, value = line.partition("=")
        assert sep, message
        result[key] = value
    return result


def test_each_message_arrives_exactly_as_systemd_expects(receiver: Receiver) -> None:
    with notifier_for(receiver) as notifier:
        assert notifier.enabled
        assert notifier.ready()
        assert receiver.message() == "READY=1"
        assert notifier.watchdog()
        assert receiver.message() == "WATCHDOG=1"
        assert notifier.status("uploading 3 files")
        assert receiver.message() == "STATUS=uploading 3 files"
        assert notifier.stopping()
        assert receiver.message() == "STOPPING=1"
        assert notifier.ready(status="running")
        assert receiver.message() == "READY=1\nSTATUS=running"
        assert notifier.stopping(status="finishing uploads")
        assert receiver.message() == "STOPPING=1\nSTATUS=finishing uploads"
        assert notifier.problem is None


def test_reloading_carries_the_monotonic_time_of_the_request(receiver: Receiver) -> None:
    with notifier_for(receiver) as notifier:
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        assert notifier.reloading()
        after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        message = receiver.message()
    assert message.split("\n")[0] == "RELOADING=1"
    got = fields(message)
    assert set(got) == {"RELOADING", "MONOTONIC_USEC"}
    assert got["MONOTONIC_USEC"].isdigit()
    assert before <= int(got["MONOTONIC_USEC"]) <= after


def test_the_kernel_vouches_that_the_sender_is_this_process(receiver: Receiver) -> None:
    # NotifyAccess=main: systemd accepts a message only if SCM_CREDENTIALS names the main PID.
    with notifier_for(receiver) as notifier:
        notifier.watchdog()
        message, pid = receiver.message_and_pid()
    assert (message, pid) == ("WATCHDOG=1", os.getpid())


def test_a_newline_in_the_status_cannot_forge_another_field(receiver: Receiver) -> None:
    with notifier_for(receiver) as notifier:
        notifier.status("3 queued\nREADY=1\r\nWATCHDOG=trigger")
        message = receiver.message()
    assert message == "STATUS=3 queued READY=1 WATCHDOG=trigger"
    assert "\n" not in message


def test_the_socket_is_read_from_the_process_environment(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", receiver.address)
    with Notifier() as notifier:
        assert notifier.ready()
    assert receiver.message() == "READY=1"


def test_without_notify_socket_every_call_is_a_quiet_no_op() -> None:
    with capture_logs() as logs, Notifier(environ={}) as notifier:
        assert not notifier.enabled
        assert notifier.watchdog_interval() is None
        results = [
            notifier.ready(),
            notifier.watchdog(),
            notifier.stopping(),
            notifier.reloading(),
            notifier.status("idle"),
        ]
    assert results == [False] * 5
    assert notifier.problem is None
    assert logs == []


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "120000000"}, 120.0),
        ({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": "4242"}, 0.5),
        ({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": "4243"}, None),  # meant for another process
        ({"WATCHDOG_PID": "4242"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_follows_watchdog_usec_and_pid(
    receiver: Receiver, env: dict[str, str], expected: float | None
) -> None:
    notifier = Notifier(environ={"NOTIFY_SOCKET": receiver.address, **env}, pid=4242)
    assert notifier.watchdog_interval() == expected
    assert notifier.problem is None


def test_watchdog_pid_defaults_to_this_process(receiver: Receiver) -> None:
    mine = notifier_for(receiver, WATCHDOG_USEC="2000000", WATCHDOG_PID=str(os.getpid()))
    other = notifier_for(receiver, WATCHDOG_USEC="2000000", WATCHDOG_PID=str(os.getpid() + 1))
    assert mine.watchdog_interval() == 2.0
    assert other.watchdog_interval() is None


@pytest.mark.parametrize("value", ["0", "-5", "soon", "1.5"])
def test_an_unusable_watchdog_usec_is_reported_not_raised(receiver: Receiver, value: str) -> None:
    with capture_logs() as logs:
        notifier = notifier_for(receiver, WATCHDOG_USEC=value)
    assert notifier.watchdog_interval() is None
    assert notifier.problem is not None and "WATCHDOG_USEC" in notifier.problem
    assert [entry["log_level"] for entry in logs] == ["warning"]
    # The socket itself is fine, so notifications still flow, and the problem stays reported.
    assert notifier.ready()
    assert receiver.message() == "READY=1"
    assert notifier.problem is not None


def test_watchdog_usec_without_a_socket_is_reported() -> None:
    with capture_logs() as logs:
        notifier = Notifier(environ={"WATCHDOG_USEC": "120000000"})
    assert notifier.problem is not None and "NOTIFY_SOCKET" in notifier.problem
    assert [entry["log_level"] for entry in logs] == ["warning"]


@pytest.mark.parametrize("value", ["run/systemd/notify", "vsock:2:1234", "@"])
def test_a_malformed_notify_socket_warns_and_keeps_saying_so(value: str) -> None:
    with capture_logs() as logs:
        notifier = Notifier(environ={"NOTIFY_SOCKET": value})
        assert not notifier.ready()
        assert not notifier.watchdog()
    assert notifier.problem is not None and "NOTIFY_SOCKET" in notifier.problem
    # One warning, then debug lines: the cause stays in the journal without flooding it.
    assert [entry["log_level"] for entry in logs] == ["warning", "debug", "debug"]


def test_no_listener_is_reported_then_recovery_is_logged(short_dir: Path) -> None:
    address = str(short_dir / "notify")
    with capture_logs() as logs, Notifier(environ={"NOTIFY_SOCKET": address}) as notifier:
        assert not notifier.ready()  # nobody bound the socket yet: no exception
        assert not notifier.watchdog()
        assert notifier.problem is not None and "cannot send" in notifier.problem
        rx = Receiver(address)
        try:
            assert notifier.watchdog()
            assert rx.message() == "WATCHDOG=1"
        finally:
            rx.close()
        assert notifier.problem is None
        assert not notifier.watchdog()  # gone again: a new failure, so a new warning
    levels = [(entry["log_level"], entry["event"]) for entry in logs]
    assert levels == [
        ("warning", "sd_notify failed; systemd may stop or restart picsync"),
        ("debug", "sd_notify failed again"),
        ("info", "sd_notify works again"),
        ("warning", "sd_notify failed; systemd may stop or restart picsync"),
    ]


def test_a_socket_rebound_at_the_same_path_is_found_again(short_dir: Path) -> None:
    # systemctl daemon-reexec replaces systemd's socket; the next ping must still arrive.
    address = str(short_dir / "notify")
    first = Receiver(address)
    with Notifier(environ={"NOTIFY_SOCKET": address}) as notifier:
        assert notifier.ready()
        assert first.message() == "READY=1"
        first.close()
        second = Receiver(address)
        try:
            assert notifier.watchdog()
            assert second.message() == "WATCHDOG=1"
        finally:
            second.close()
    assert notifier.problem is None


def test_a_receiver_that_stops_reading_cannot_hang_the_daemon(receiver: Receiver) -> None:
    # The kernel queues a few datagrams for a reader that does not read, then a send waits;
    # the notifier gives up after its timeout, reports it, and the next send works again.
    with Notifier(environ={"NOTIFY_SOCKET": receiver.address}, send_timeout=0.2) as notifier:
        for _ in range(10_000):
            if not notifier.watchdog():
                break
        else:
            pytest.fail("the receive queue never filled")
        assert notifier.problem is not None and "timed out" in notifier.problem
        while receiver.pending():
            assert receiver.message() == "WATCHDOG=1"
        assert notifier.watchdog()
        assert receiver.message() == "WATCHDOG=1"
        assert notifier.problem is None


def test_nothing_raises_even_after_close(receiver: Receiver) -> None:
    notifier = notifier_for(receiver)
    notifier.close()
    notifier.close()
    assert notifier.ready()  # a closed notifier reconnects on the next message
    assert receiver.message() == "READY=1"
    notifier.close()


def next_message(rx: Receiver, wanted: str, timeout: float) -> tuple[dict[str, str], int]:
    """The first notification carrying field ``wanted``, and its sender's PID."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rx.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            message, pid = rx.message_and_pid()
        except TimeoutError:
            break
        got = fields(message)
        if wanted in got:
            return got, pid
    raise AssertionError(f"no {wanted}= within {timeout} s")


def test_the_daemon_speaks_the_protocol_from_start_to_stop(
    site: Site, daemons: list[Daemon], short_dir: Path
) -> None:
    # The real `picsync run`, as systemd runs it: NOTIFY_SOCKET and WATCHDOG_USEC set.
    rx = Receiver(str(short_dir / "notify"))
    try:
        daemon = Daemon(site, env={"NOTIFY_SOCKET": rx.address, "WATCHDOG_USEC": "4000000"})
        daemons.append(daemon.start())
        assert daemon.proc is not None
        main_pid = daemon.proc.pid
        ready, pid = next_message(rx, "READY", 60)
        assert (ready["READY"], pid) == ("1", main_pid), daemon.log()
        ping, pid = next_message(rx, "WATCHDOG", 10)
        assert (ping["WATCHDOG"], pid) == ("1", main_pid)

        daemon.proc.send_signal(signal.SIGHUP)
        reloading, pid = next_message(rx, "RELOADING", 30)
        assert reloading["RELOADING"] == "1" and pid == main_pid
        assert int(reloading["MONOTONIC_USEC"]) <= time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        ready, _ = next_message(rx, "READY", 30)
        assert ready["READY"] == "1"

        daemon.proc.send_signal(signal.SIGTERM)
        stopping, pid = next_message(rx, "STOPPING", 30)
        assert (stopping["STOPPING"], pid) == ("1", main_pid)
        assert daemon.proc.wait(timeout=60) == 0, daemon.log()
    finally:
        rx.close()
