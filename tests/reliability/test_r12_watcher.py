"""R12: watcher faults. The daemon is frozen (SIGSTOP) while a burst lands, into existing and
new folders, then thawed (SIGCONT): the kernel's inotify queue overflows and events are lost.

To make the overflow certain, the daemon's inotify instance is created with a small queue
(fs.inotify.max_queued_events lowered just for its start, then restored); the periodic rescan
is pushed out to an hour, so only the rescan that the overflow triggers can find the files.
Pass: every file of the burst is delivered exactly once, and the overflow was noticed (logged).
The planted-exception case of the spec is covered by tests/test_watch.py (the event handler
never lets an exception escape); an unmounted share is a folder destination's BlockedError.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers import Site
from tests.reliability import sites
from tests.reliability.generate import KB, sized_jpeg
from tests.reliability.manifest import Manifest
from tests.reliability.oracle import Figures
from tests.reliability.rig import Rig
from tests.reliability.scale import Scale

QUEUE_LIMIT = Path("/proc/sys/fs/inotify/max_queued_events")
SMALL_QUEUE = 256


@contextmanager
def small_inotify_queue() -> Iterator[bool]:
    """Lower the queue size for inotify instances made inside the block; True if it could."""
    try:
        before = QUEUE_LIMIT.read_text()
        QUEUE_LIMIT.write_text(f"{SMALL_QUEUE}\n")
    except OSError:
        yield False
        return
    try:
        yield True
    finally:
        QUEUE_LIMIT.write_text(before)


def test_r12_a_burst_while_the_daemon_is_frozen_arrives_through_the_overflow_rescan(
    site: Site,
    rigs: Callable[..., Rig],
    oracle: Callable[..., Figures],
    scale: Scale,
    seed: int,
) -> None:
    remotes, env = sites.route(site, sites.folder(site), source={"rescan_interval": 3600})
    rig = rigs(site, remotes, env=env)
    manifest = Manifest(site.inbox)
    with small_inotify_queue() as lowered:
        rig.start()
        rig.wait_started()
    for i in range(10):
        manifest.drop(f"existing/IMG_{i}.jpg", sized_jpeg(seed * 100_000 + i, 4 * KB))
    rig.wait_drained(manifest, scale.timeout, "the warm-up files")
    rig.signal(signal.SIGSTOP)
    try:
        for i in range(scale.stop_burst_files):
            # Watched folders (events queue up and overflow) and new ones (no watch yet).
            folder = ("", "existing/")[i % 2] if i % 5 else f"new_{i % 7}/"
            data = sized_jpeg(seed * 100_000 + 100 + i, 3 * KB)
            manifest.drop(f"{folder}IMG_{i:05d}.jpg", data, atomic=i % 3 != 0)
    finally:
        rig.signal(signal.SIGCONT)
    rig.wait_drained(manifest, scale.timeout, "the burst after SIGCONT")
    rig.stop()
    overflow_logged = "overflow" in rig.log().lower()
    oracle(
        rig,
        manifest,
        "R12 SIGSTOP burst",
        seed,
        **{
            "inotify queue lowered to": str(SMALL_QUEUE) if lowered else "no (not writable)",
            "overflow noticed in the log": str(overflow_logged),
        },
    )
    if lowered:
        assert overflow_logged, "the inotify queue overflowed unnoticed"
