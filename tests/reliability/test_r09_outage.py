"""R9: a long outage. The Dropbox emulator goes offline (every connection reset, as a dead
network would) while files keep arriving, then comes back.

Pass: 0 loss, the queue drains after the outage, and the requests sent while offline stay
within what the back-off schedule allows: a delivery is tried again no sooner than half its
back-off (equal jitter), each try is at most 3 requests (the in-memory retries), so over an
outage of D seconds a delivery makes at most 3 x k(D) requests, where k(D) is how many tries
the schedule fits into D. The second test holds the spec's expectation for an outage longer
than the delivery attempt budget (specs/reliability.md R9: 8 h with 1,000 files queued: 0 loss,
drains after): a failure that got no answer does not use up an attempt, so nothing is buried.
"""

from __future__ import annotations

import time
from collections.abc import Callable

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

TRIES_PER_ATTEMPT = 3  # destinations/_retry.call_with_retry
# Attempts are not what this test spends: the budget outlasts the longest (LONG) outage.
RETRY = {"base_delay": 0.2, "max_delay": 4.0, "max_attempts": 10_000, "blocked_pause": 1.0}


def tries_within(duration: float, base: float, cap: float, max_attempts: int) -> int:
    """How many attempts the back-off schedule fits into ``duration`` at the most: after the
    k-th failure the next attempt waits at least half of min(cap, base * 2**(k-1))."""
    elapsed, attempts = 0.0, 1
    while attempts < max_attempts:
        wait = min(cap, base * 2 ** (attempts - 1)) / 2
        if elapsed + wait > duration:
            break
        elapsed += wait
        attempts += 1
    return attempts


def test_r9_an_outage_costs_bounded_requests_and_loses_nothing(
    site: Site,
    dropbox_emulator: DropboxEmulator,
    loopback_tls: LoopbackTls,
    rigs: Callable[..., Rig],
    oracle: Callable[..., Figures],
    scale: Scale,
    seed: int,
) -> None:
    remotes, env = sites.route(
        site, sites.dropbox(site, dropbox_emulator, loopback_tls, timeout=5), retry=RETRY
    )
    rig = rigs(site, remotes, env=env)
    rig.start()
    rig.wait_started()
    manifest = Manifest(site.inbox)
    manifest.drop("before.jpg", sized_jpeg(seed, 20 * KB))
    rig.wait_drained(manifest, scale.timeout, "the first file")
    went_offline = time.monotonic()
    dropbox_emulator.set_offline(True)
    for i in range(scale.outage_files):
        manifest.drop(f"queued/IMG_{i:05d}.jpg", sized_jpeg(seed * 10_000 + i, 8 * KB))
    time.sleep(scale.outage_s)
    dropbox_emulator.set_offline(False)
    came_back = time.monotonic()
    queued = rig.ledger.file_counts()["spooled"]
    rig.wait_drained(manifest, scale.timeout, "the queue after the outage")
    drained = time.monotonic()
    rig.stop()
    offline = [r for r in during(dropbox_emulator.requests(), went_offline, came_back)]
    outage = came_back - went_offline
    k = tries_within(outage, RETRY["base_delay"], RETRY["max_delay"], RETRY["max_attempts"])
    bound = scale.outage_files * TRIES_PER_ATTEMPT * k
    oracle(
        rig,
        manifest,
        "R9 outage",
        seed,
        **{
            "outage s / files spooled meanwhile": f"{outage:.1f} / {queued}",
            "requests while offline / schedule bound": f"{len(offline)} / {bound}",
            "request rate while offline /s": f"{len(offline) / outage:.1f}",
            "came back → drained s": f"{drained - came_back:.1f}",
        },
    )
    assert all(r.outcome == "offline" for r in offline)
    assert len(offline) <= bound, f"{len(offline)} requests while offline, schedule allows {bound}"


def test_r9_an_outage_longer_than_the_attempt_budget_still_drains_by_itself(
    site: Site,
    dropbox_emulator: DropboxEmulator,
    loopback_tls: LoopbackTls,
    rigs: Callable[..., Rig],
    scale: Scale,
    seed: int,
) -> None:
    retry = {"base_delay": 0.2, "max_delay": 0.5, "max_attempts": 4, "blocked_pause": 1.0}
    remotes, env = sites.route(
        site, sites.dropbox(site, dropbox_emulator, loopback_tls, timeout=5), retry=retry
    )
    rig = rigs(site, remotes, env=env)
    dropbox_emulator.set_offline(True)
    rig.start()
    rig.wait_started()
    manifest = Manifest(site.inbox)
    for i in range(3):
        manifest.drop(f"IMG_{i}.jpg", sized_jpeg(seed + i, 8 * KB))
    # Go on until the deliveries have been tried well past what 4 attempts each would allow
    # (each attempt is up to TRIES_PER_ATTEMPT requests): with counted attempts they would
    # all be dead by then.
    budget = 3 * retry["max_attempts"] * TRIES_PER_ATTEMPT
    rig.wait(
        lambda: offline_requests(dropbox_emulator) > 2 * budget,
        scale.timeout,
        f"more than {2 * budget} requests into the outage",
    )
    assert rig.ledger.delivery_counts()["dead"] == 0, rig.status()
    dropbox_emulator.set_offline(False)
    rig.wait_drained(manifest, 30, "the queue once the network is back")
    assert rig.ledger.delivery_counts()["dead"] == 0


def offline_requests(emulator: DropboxEmulator) -> int:
    return sum(1 for r in emulator.requests() if r.outcome == "offline")
