"""R3: SIGKILL at uniform random moments while files keep arriving (restic-style kill loop).

Files arrive at random intervals into a route to a folder and Dropbox; the daemon is killed
with SIGKILL after a uniform random delay and restarted at once, again and again; then the
queue must drain with every file exactly once at both destinations. Replay a failure with
PICSYNC_TEST_SEED; each restart's recovery time is reported (restart → first upload).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

from tests.emulators.dropbox import DropboxEmulator
from tests.emulators.tls import LoopbackTls
from tests.helpers import Site
from tests.reliability import sites
from tests.reliability.generate import KB, log_uniform_size, sized_jpeg
from tests.reliability.manifest import Manifest
from tests.reliability.oracle import Figures
from tests.reliability.rig import Rig
from tests.reliability.scale import Scale


def test_r3_random_kills_lose_and_duplicate_nothing(
    site: Site,
    dropbox_emulator: DropboxEmulator,
    loopback_tls: LoopbackTls,
    rigs: Callable[..., Rig],
    oracle: Callable[..., Figures],
    scale: Scale,
    seed: int,
) -> None:
    remotes, env = sites.route(
        site, sites.folder(site), sites.dropbox(site, dropbox_emulator, loopback_tls)
    )
    rig = rigs(site, remotes, env=env)
    rng = random.Random(seed)
    writer_rng = random.Random(seed + 1)
    manifest = Manifest(site.inbox)
    # Spread the arrivals over the kills: about as long as the kill loop takes.
    pause = 1.0 * scale.soak_kills / scale.soak_files
    written = threading.Event()

    def write() -> None:
        for i in range(scale.soak_files):
            size = log_uniform_size(writer_rng, 20 * KB, 300 * KB)
            data = sized_jpeg(seed * 10_000 + i, size)
            manifest.drop(f"patient_{i:04d}.jpg", data, atomic=writer_rng.random() < 0.7)
            time.sleep(writer_rng.uniform(0, 2 * pause))
        written.set()

    rig.start()
    writer = threading.Thread(target=write, name="r3-writer")
    writer.start()
    try:
        for _ in range(scale.soak_kills):
            time.sleep(rng.uniform(0.5, 2.5))
            rig.kill()
            rig.start()
    finally:
        writer.join()
    rig.wait_drained(manifest, scale.timeout, f"the queue after {scale.soak_kills} kills")
    rig.stop()
    oracle(rig, manifest, "R3 kill soak", seed, kills=str(scale.soak_kills))
