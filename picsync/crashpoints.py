"""Named crash points at every durable step, for the kill-and-restart tests.

A test sets ``PICSYNC_TEST_CRASHPOINT=name`` (or ``name:N`` for the N-th time the point is
reached) and the process SIGKILLs itself there, exactly as a power cut or ``kill -9`` would stop it
at that step. Unset (always, in production), ``crashpoint()`` is one comparison.
"""

from __future__ import annotations

import os
import signal
import threading

_ENV = "PICSYNC_TEST_CRASHPOINT"
_HANG_ENV = "PICSYNC_TEST_HANGPOINT"


def _parse(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    name, _, count = value.partition(":")
    return name, int(count) if count else 1


_selected = _parse(os.environ.get(_ENV))
_hang = os.environ.get(_HANG_ENV) or None
_hits = 0
_lock = threading.Lock()


def crashpoint(name: str) -> None:
    """Kill this process with SIGKILL if the test selected this point (and this occurrence).

    ``PICSYNC_TEST_HANGPOINT=name`` instead blocks the calling thread there for good, as a hung
    network call would (for the watchdog test).
    """
    global _hits
    if _hang == name:
        threading.Event().wait()
    if _selected is None or _selected[0] != name:
        return
    with _lock:
        _hits += 1
        if _hits >= _selected[1]:
            os.kill(os.getpid(), signal.SIGKILL)
