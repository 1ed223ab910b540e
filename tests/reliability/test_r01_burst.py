"""R1: a burst of files of mixed sizes, each delivered exactly once to a folder and to Dropbox.

One route with two destinations, so every file is prepared once and delivered twice; half the
files appear atomically (written beside the inbox, renamed in), half are written in place as a
camera over a share would. Pass: every file exactly once at both, 0 duplicates, 0 losses,
max RSS < 300 MB (specs/reliability.md §3 R1); the drain time is reported.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from tests.emulators.dropbox import DropboxEmulator
from tests.emulators.tls import LoopbackTls
from tests.helpers import Site
from tests.reliability import sites
from tests.reliability.generate import burst_size, sized_jpeg
from tests.reliability.manifest import Manifest
from tests.reliability.oracle import Figures
from tests.reliability.rig import Rig
from tests.reliability.scale import Scale

MAX_RSS_MIB = 300


def test_r1_burst_arrives_exactly_once_at_a_folder_and_dropbox(
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
    rig.start()
    rig.wait_started()
    rng = random.Random(seed)
    manifest = Manifest(site.inbox)
    for i in range(scale.burst_files):
        size = burst_size(
            rng, scale.burst_low, scale.burst_high, scale.burst_big_share, scale.burst_big_high
        )
        data = sized_jpeg(seed * 1_000_003 + i, size)
        manifest.drop(f"day{i % 7}/IMG_{i:05d}.JPG", data, atomic=rng.random() < 0.5)
    rig.wait_drained(manifest, scale.timeout)
    rig.stop()
    figures = oracle(rig, manifest, "R1 burst", seed)
    assert figures.max_rss_mib < MAX_RSS_MIB, f"max RSS {figures.max_rss_mib:.0f} MiB"
