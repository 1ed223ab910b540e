"""The systemd notification protocol (sd_notify) spoken directly over $NOTIFY_SOCKET; I/O.

No library: the protocol is one datagram of newline-separated ``KEY=value`` lines sent to the
unix socket named in ``$NOTIFY_SOCKET`` (a path, or an abstract name written with a leading
``@``). Outside systemd the variable is unset and every call is a no-op.

Failure policy. Nothing here raises into the daemon: a lost notification must never stop an
upload. But a notifier that fails in silence is worse than none on a machine nobody watches,
because systemd then kills the daemon for "not ready" or "watchdog timeout" with no hint of
why. So the first failure (an unusable $NOTIFY_SOCKET or $WATCHDOG_USEC, a refused send) is
logged as a warning naming the cause, repeats are logged at debug and again as a warning at
most once an hour while the failure lasts, recovery is logged, and ``problem`` holds the
current failure for the daemon's own health reporting. Each send returns whether it was
delivered.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Mapping

import structlog

log = structlog.get_logger("picsync.sdnotify")

# A warning per hour at most while a failure persists: visible in any day's journal, yet not
# one line per watchdog ping.
REWARN_AFTER_S = 3600.0
# A full receive queue blocks a datagram send; the daemon's main loop must never hang on it.
SEND_TIMEOUT_S = 2.0


class Notifier:
    """Tells systemd about readiness, liveness, reloads and shutdown (Type=notify units).

    Thread-safe. ``environ`` and ``pid`` default to this process's; tests pass their own.
    ``send_timeout`` bounds how long a send may wait for room in systemd's receive queue.
    """

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        pid: int | None = None,
        send_timeout: float = SEND_TIMEOUT_S,
    ) -> None:
        env = os.environ if environ is None else environ
        self._send_timeout = send_timeout
        self._pid = os.getpid() if pid is None else pid
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._problem: str | None = None  # the latest failure to send
        self._config_problem: str | None = None  # an unusable environment; lasts for ever
        self._warned_at: float | None = None
        self._reported: str | None = None  # what the last warning was about
        self._address: bytes | None = None
        raw = env.get("NOTIFY_SOCKET", "")
        if raw.startswith("@") and len(raw) > 1:
            # Abstract namespace: the kernel name starts with a NUL byte instead of "@".
            self._address = b"\0" + os.fsencode(raw[1:])
        elif raw.startswith("/"):
            self._address = os.fsencode(raw)
        elif raw:
            # vsock: and relative names are not for us; say so rather than ignore them.
            self._misconfigured("NOTIFY_SOCKET is neither an absolute path nor an @abstract name")
        self._watchdog_s = self._parse_watchdog(env)
        if self._watchdog_s is not None and not raw:
            self._misconfigured("WATCHDOG_USEC is set but NOTIFY_SOCKET is not: nothing can ping")

    @property
    def enabled(self) -> bool:
        """True when a notification socket was given (that is, systemd waits for us)."""
        return self._address is not None

    @property
    def problem(self) -> str | None:
        """What is wrong, or None while notifications are delivered (or not wanted)."""
        return self._config_problem or self._problem

    def watchdog_interval(self) -> float | None:
        """systemd's watchdog timeout in seconds for this process; None when there is none.

        Ping at half of it or more often, as sd_watchdog_enabled(3) advises.
        """
        return self._watchdog_s

    def ready(self, status: str | None = None) -> bool:
        """Start-up (or a reload) is complete; systemd starts dependent units now."""
        return self._send("READY=1", status)

    def watchdog(self) -> bool:
        """Proof of life; send only after checking that every part is alive and progressing."""
        return self._send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        """Shutdown has begun; systemd shows "deactivating" while the workers finish."""
        return self._send("STOPPING=1", status)

    def reloading(self, status: str | None = None) -> bool:
        """A configuration reload has begun; call ``ready()`` when it is done.

        MONOTONIC_USEC lets systemd 253+ (Type=notify-reload) match this message to the reload
        it asked for; systemd 252 ignores the extra field.
        """
        now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self._send(f"RELOADING=1\nMONOTONIC_USEC={now_usec}", status)

    def status(self, text: str) -> bool:
        """A one-line state for `systemctl status`. Never a file name: those are patient names."""
        return self._send(None, text)

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _parse_watchdog(self, env: Mapping[str, str]) -> float | None:
        raw_usec = env.get("WATCHDOG_USEC")
        if not raw_usec:
            return None
        raw_pid = env.get("WATCHDOG_PID")
        # systemd sets WATCHDOG_PID so a child that inherited the environment does not ping
        # in its parent's name; such a child has no watchdog of its own.
        if raw_pid and raw_pid.strip() != str(self._pid):
            return None
        try:
            usec = int(raw_usec)
        except ValueError:
            usec = 0
        if usec <= 0:
            self._misconfigured("WATCHDOG_USEC is not a positive number of microseconds")
            return None
        return usec / 1_000_000

    def _send(self, fields: str | None, status: str | None = None) -> bool:
        if self._address is None:
            if self._config_problem is not None:
                # Every call would have needed the socket: keep the cause in the journal.
                with self._lock:
                    self._report_locked(self._config_problem)
            return False
        lines = [] if fields is None else [fields]
        if status is not None:
            # One datagram holds several KEY=value lines: a newline in the text would let it
            # forge another field (READY=1, say).
            lines.append("STATUS=" + " ".join(status.splitlines()))
        message = "\n".join(lines).encode("utf-8")
        with self._lock:
            try:
                self._deliver_locked(message)
            except OSError as exc:
                detail = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
                problem = f"cannot send to NOTIFY_SOCKET: {detail}"
                self._report_locked(problem)
                self._problem = problem
                return False
            if self._problem is not None:
                log.info("sd_notify works again", was=self._problem)
                self._problem = None
                self._reported = None
            return True

    def _deliver_locked(self, message: bytes) -> None:
        """Send one datagram on a connected socket; raises OSError."""
        assert self._address is not None
        while True:
            fresh = self._sock is None
            if self._sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                # Connected: then poll() knows about the receiver's queue, so a send to a full
                # queue sleeps until there is room or the timeout ends, instead of spinning.
                sock.settimeout(self._send_timeout)
                try:
                    sock.connect(self._address)
                except OSError:
                    sock.close()
                    raise
                self._sock = sock
            try:
                self._sock.send(message)
                return
            except OSError as exc:
                self._sock.close()
                self._sock = None
                # A reused socket may point at one systemd has since replaced (daemon-reexec
                # binds a new socket at the same path): connect afresh, once.
                if fresh or isinstance(exc, TimeoutError):
                    raise

    def _misconfigured(self, problem: str) -> None:
        self._config_problem = problem
        with self._lock:
            self._report_locked(problem)

    def _report_locked(self, problem: str) -> None:
        """Warn on a new failure and hourly while it lasts; debug in between."""
        now = time.monotonic()
        if (
            problem != self._reported
            or self._warned_at is None
            or now - self._warned_at >= REWARN_AFTER_S
        ):
            log.warning("sd_notify failed; systemd may stop or restart picsync", problem=problem)
            self._warned_at = now
            self._reported = problem
        else:
            log.debug("sd_notify failed again", problem=problem)
