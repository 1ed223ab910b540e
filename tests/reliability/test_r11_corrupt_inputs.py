"""R11: corrupt inputs in the watched folder: truncated and garbage JPEGs, a JPEG whose EXIF
points outside itself, a PNG with a garbage image stream, TIFFs with a runaway or looping
directory chain, a PDF that does not parse, a DICOM file of noise, and a 400-megapixel PNG
decompression bomb, among good photos.

Pass: the daemon never exits or hangs (every wait notices a dead daemon at once), each bad
file is quarantined with a reason a person can read (an incomplete one after ``max_wait``),
the bomb is either refused or delivered whole with memory staying bounded, and every good
photo arrives exactly once.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.helpers import Site
from tests.reliability import generate, sites
from tests.reliability.generate import KB, sized_jpeg
from tests.reliability.manifest import Expect, Manifest
from tests.reliability.oracle import Figures
from tests.reliability.rig import Rig
from tests.reliability.scale import Scale

MAX_RSS_MIB = 300


def test_r11_corrupt_inputs_are_quarantined_with_a_reason_and_never_stop_the_daemon(
    site: Site,
    rigs: Callable[..., Rig],
    oracle: Callable[..., Figures],
    scale: Scale,
    seed: int,
) -> None:
    remotes, env = sites.route(site, sites.folder(site), source={"max_wait": 3})
    rig = rigs(site, remotes, env=env)
    rig.start()
    rig.wait_started()
    manifest = Manifest(site.inbox)
    bad = {
        "truncated.jpg": generate.truncated_jpeg(seed),
        "garbage.jpg": generate.garbage_named_jpeg(seed),
        "bad_exif.jpg": generate.jpeg_with_bad_exif(seed),
        "garbage.png": generate.broken_png(seed),
        "runaway.tif": generate.garbage_tiff(seed),
        "loop.tif": generate.cyclic_tiff(),
        "garbage.pdf": generate.garbage_pdf(seed),
        "noise.dcm": generate.garbage_dicom(seed),
    }
    for i in range(4):
        manifest.drop(f"good_{i}.jpg", sized_jpeg(seed * 10 + i, 50 * KB))
    for name, data in bad.items():
        manifest.drop(f"bad/{name}", data, expect=Expect.QUARANTINE, label=name)
    manifest.drop("bad/bomb.png", generate.png_bomb(), expect=Expect.EITHER, label="bomb")
    for i in range(4, 8):
        manifest.drop(f"good_{i}.jpg", sized_jpeg(seed * 10 + i, 50 * KB))
    rig.wait_drained(manifest, scale.timeout, "every good file delivered, every bad one refused")
    rig.stop()
    bomb = "/".join(rig.ledger.states_of("bad/bomb.png"))
    figures = oracle(rig, manifest, "R11 corrupt inputs", seed, **{"bomb ended": bomb})
    assert sum(figures.quarantined.values()) >= len(bad)
    assert figures.max_rss_mib < MAX_RSS_MIB, f"max RSS {figures.max_rss_mib:.0f} MiB"
