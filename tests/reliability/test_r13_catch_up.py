"""R13: catch-up. Files that arrived while the daemon was stopped, and files that keep arriving
while its start-up scan runs, are each delivered exactly once (the observer starts before the
catch-up scan, so nothing falls between them; a file seen by both is taken once)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from tests.helpers import Site
from tests.reliability import sites
from tests.reliability.generate import KB, sized_jpeg
from tests.reliability.manifest import Manifest
from tests.reliability.oracle import Figures
from tests.reliability.rig import Rig
from tests.reliability.scale import Scale


def test_r13_files_from_while_stopped_and_during_the_startup_scan_arrive_once(
    site: Site,
    rigs: Callable[..., Rig],
    oracle: Callable[..., Figures],
    scale: Scale,
    seed: int,
) -> None:
    remotes, env = sites.route(site, sites.folder(site))
    rig = rigs(site, remotes, env=env)
    manifest = Manifest(site.inbox)
    rig.start()
    manifest.drop("before/first.jpg", sized_jpeg(seed, 4 * KB))
    rig.wait_drained(manifest, scale.timeout, "the first file")
    rig.stop()

    count = scale.catchup_files
    for i in range(count):
        manifest.drop(f"stopped/{i % 10}/IMG_{i:05d}.jpg", sized_jpeg(seed + 1 + i, 4 * KB))

    def during_scan() -> None:
        for i in range(count):
            name = f"scanning/{i % 10}/IMG_{i:05d}.jpg"
            manifest.drop(name, sized_jpeg(seed + 1 + count + i, 4 * KB), atomic=i % 2 == 0)

    rig.start()
    writer = threading.Thread(target=during_scan, name="r13-writer")
    writer.start()
    writer.join()
    rig.wait_drained(manifest, scale.timeout, "catch-up")
    rig.stop()
    oracle(rig, manifest, "R13 catch-up", seed)
