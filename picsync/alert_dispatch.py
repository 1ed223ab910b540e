"""I/O: sends notices off the caller's thread, one background thread and bounded queue per sender.

A slow or dead SMTP server must never stall the daemon's health loop, and a dead webhook must not
delay the e-mail, so each sender gets its own thread. A failed send is retried a few times with
growing pauses, then logged and dropped; nothing is ever raised back to the daemon. Log lines
carry the kind, the subject and the scrubbed error only, never a URL (webhook URLs hold tokens).
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

import structlog

from picsync.alert_model import Alert
from picsync.alert_senders import AlertSendError, Sender

log = structlog.get_logger("picsync.alerts")


@dataclass(frozen=True, slots=True)
class RetryPlan:
    """The pauses between attempts; one more attempt than pauses."""

    delays: tuple[float, ...] = (5.0, 30.0, 120.0)

    @property
    def attempts(self) -> int:
        return len(self.delays) + 1


class SenderThread:
    """Feeds one sender from a bounded queue on a daemon thread."""

    def __init__(self, sender: Sender, retry: RetryPlan, queue_size: int = 32) -> None:
        self.sender = sender
        self._retry = retry
        self._queue: queue.Queue[Alert | None] = queue.Queue(maxsize=queue_size)
        self._stopping = threading.Event()
        self._idle = threading.Condition()
        self._unfinished = 0
        # daemon=True: a send stuck in a socket timeout must not hold up process exit.
        self._thread = threading.Thread(
            target=self._run, name=f"picsync-alert-{sender.name}", daemon=True
        )
        self._thread.start()

    def submit(self, alert: Alert) -> bool:
        """Queue a notice; False (and an error log) when the queue is full or closed."""
        if self._stopping.is_set():
            return False
        with self._idle:
            self._unfinished += 1
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self._done()
            log.error("alert_queue_full", sender=self.sender.name, **_fields(alert))
            return False
        return True

    def flush(self, timeout: float) -> bool:
        """Wait until every queued notice was sent or given up; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unfinished == 0, timeout)

    def close(self, timeout: float) -> None:
        """Send what is queued (one attempt each, no more pauses) for at most `timeout` s."""
        deadline = time.monotonic() + timeout
        self._stopping.set()
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        while True:
            alert = self._queue.get()
            if alert is None:
                return
            try:
                self._deliver(alert)
            finally:
                self._done()

    def _done(self) -> None:
        with self._idle:
            self._unfinished -= 1
            self._idle.notify_all()

    def _deliver(self, alert: Alert) -> None:
        name = self.sender.name
        for attempt in range(1, self._retry.attempts + 1):
            try:
                self.sender.send(alert)
            except AlertSendError as exc:
                error = exc
            except Exception as exc:  # a bug in a sender must not kill its thread
                error = AlertSendError(type(exc).__name__)
            else:
                log.info("alert_sent", sender=name, attempt=attempt, **_fields(alert))
                return
            last = attempt == self._retry.attempts or error.permanent
            if last or self._stopping.is_set():
                log.error(
                    "alert_send_failed",
                    sender=name,
                    attempts=attempt,
                    error=str(error),
                    permanent=error.permanent,
                    **_fields(alert),
                )
                return
            pause = self._retry.delays[attempt - 1]
            log.warning(
                "alert_send_retry",
                sender=name,
                attempt=attempt,
                retry_in_s=pause,
                error=str(error),
                **_fields(alert),
            )
            self._stopping.wait(pause)


def _fields(alert: Alert) -> dict[str, str]:
    return {"kind": alert.kind.value, "state": alert.state.value, "subject": alert.subject}
