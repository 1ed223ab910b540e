"""R10: the wall clock jumps (an NTP step, a dead RTC battery, a VM restored from a snapshot).

The ledger keeps retry times (``not_before``) as wall-clock times, so that they mean something
after a restart; a clock that steps makes them wrong by the step. The jump is injected by
shifting every stored wait by the step while the daemon is stopped: exactly what the daemon
sees when the clock steps while it is down. (libfaketime, Debian's ``faketime``, cannot do
it for this daemon: with monotonic time left real, as an NTP step leaves it, libfaketime 0.9.10
makes Python 3.11's ``time.sleep`` fail with EINVAL; faking monotonic time as well makes every
sleep hang once the offset changes.)

- Forward a day: every wait is over at once; each delivery is tried once and goes back to its
  schedule (no retry storm: requests stay within the schedule's bound).
- Back a day: every wait is a day longer than asked. The spec (§3, implementation notes): clamp
  a stored wait to now + max back-off on load, so no item starves longer than the cap.
Both: the audit log keeps wall and monotonic time in every record.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from tests.emulators import dropbox_wire
from tests.emulators.dropbox import DropboxEmulator
from tests.emulators.tls import LoopbackTls
from tests.helpers import Site
from tests.reliability import sites
from tests.reliability.generate import KB, sized_jpeg
from tests.reliability.manifest import Manifest
from tests.reliability.oracle import Figures
from tests.reliability.rig import Rig
from tests.reliability.scale import Scale
from tests.reliability.wire import during

DAY = 86_400.0
RETRY = {"base_delay": 0.5, "max_delay": 4.0, "max_attempts": 1000, "blocked_pause": 1.0}
FILES = 3
ALL_UPLOADS = "^/2/files/upload"


def step_the_clock(rig: Rig, seconds: float) -> int:
    """What a clock step of ``seconds`` does to the stored waits: they move by -seconds
    relative to the new "now". The daemon is stopped; returns the rows moved."""
    conn = sqlite3.connect(rig.ledger.path)
    try:
        with conn:
            moved = conn.execute(
                "UPDATE deliveries SET not_before = not_before - ? WHERE state = 'pending'",
                (seconds,),
            ).rowcount
            conn.execute("UPDATE pauses SET until = until - ?", (seconds,))
    finally:
        conn.close()
    return moved


def in_backoff(
    site: Site, emulator: DropboxEmulator, tls: LoopbackTls, rigs: Callable[..., Rig], seed: int
) -> tuple[Rig, Manifest]:
    """A daemon whose deliveries all failed (503) and wait in back-off; then stopped."""
    remotes, env = sites.route(site, sites.dropbox(site, emulator, tls, timeout=5), retry=RETRY)
    rig = rigs(site, remotes, env=env)
    emulator.add_fault(dropbox_wire.server_error_fault(ALL_UPLOADS, status=503, times=None))
    rig.start()
    rig.wait_started()
    manifest = Manifest(site.inbox)
    for i in range(FILES):
        manifest.drop(f"IMG_{i}.jpg", sized_jpeg(seed * 10 + i, 20 * KB))
    rig.wait(
        lambda: len(delivery_attempts(rig)) == FILES and min(delivery_attempts(rig)) >= 1,
        60,
        "every delivery to fail",
    )
    rig.stop()  # the uploads in flight fail once more and go back to wait
    assert rig.ledger.delivery_counts()["pending"] == FILES
    emulator.clear_faults()
    return rig, manifest


def delivery_attempts(rig: Rig) -> list[int]:
    return [r[0] for r in rig.ledger._query("SELECT attempts FROM deliveries")]


def audit_keeps_both_clocks(rig: Rig) -> bool:
    records = [r for r in rig.ledger.audit() if r.get("event") != "torn_tail_removed"]
    return bool(records) and all("time" in r and "mono" in r for r in records)


def test_r10_a_clock_a_day_ahead_makes_no_retry_storm(
    site: Site,
    dropbox_emulator: DropboxEmulator,
    loopback_tls: LoopbackTls,
    rigs: Callable[..., Rig],
    oracle: Callable[..., Figures],
    scale: Scale,
    seed: int,
) -> None:
    rig, manifest = in_backoff(site, dropbox_emulator, loopback_tls, rigs, seed)
    moved = step_the_clock(rig, DAY)
    dropbox_emulator.add_fault(dropbox_wire.server_error_fault(ALL_UPLOADS, status=503, times=None))
    restarted = time.monotonic()
    rig.start()
    rig.wait_started()
    time.sleep(3)
    burst = during(dropbox_emulator.requests(), restarted, time.monotonic())
    dropbox_emulator.clear_faults()
    rig.wait_drained(manifest, scale.timeout, "the queue after the jump")
    rig.stop()
    # Three seconds fit at most 1 + 3 tries per delivery into a 0.5 s-based schedule (the
    # first at once, the others no sooner than 0.25, 0.5 and 1 s later), 3 requests each.
    bound = FILES * 4 * 3 + 5
    oracle(
        rig,
        manifest,
        "R10 clock +1 day",
        seed,
        **{
            "waits moved by the step": str(moved),
            "requests in the 3 s after the jump / bound": f"{len(burst)} / {bound}",
        },
    )
    assert len(burst) <= bound, f"{len(burst)} requests in 3 s after the jump: a retry storm"
    assert audit_keeps_both_clocks(rig)


def test_r10_a_clock_a_day_behind_starves_no_delivery_beyond_the_cap(
    site: Site,
    dropbox_emulator: DropboxEmulator,
    loopback_tls: LoopbackTls,
    rigs: Callable[..., Rig],
    seed: int,
) -> None:
    rig, manifest = in_backoff(site, dropbox_emulator, loopback_tls, rigs, seed)
    step_the_clock(rig, -DAY)
    rig.start()
    rig.wait_started()
    # The cap is 4 s; 15 s is generous on a loaded machine, and a day is not.
    rig.wait_drained(manifest, 15, "the deliveries (waits clamped to the 4 s cap)")
    assert audit_keeps_both_clocks(rig)
