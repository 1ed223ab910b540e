"""R5: the disk under the spool (or the whole state directory) is full.

A small tmpfs is mounted at the spool (``spool``) or at the state directory (``state``: the
ledger and the audit log hit ENOSPC/SQLITE_FULL too) and filled almost to the brim; files
then arrive. Pass: no file is quarantined or lost for it (the spool refusing a write is not
the photo's fault), no partial spool file is ever uploaded (every object decrypts to a whole
generated file), and once a filler file is deleted everything is delivered.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.helpers import Site
from tests.reliability import sites
from tests.reliability.generate import KB, sized_jpeg
from tests.reliability.manifest import Manifest
from tests.reliability.mounts import fill, tmpfs
from tests.reliability.oracle import Figures
from tests.reliability.rig import Rig
from tests.reliability.scale import Scale

SPOOL_REFUSED = "the spool cannot take files now"


def disk_full_seen(rig: Rig) -> bool:
    """The daemon met ENOSPC: it said so, or it quarantined a file for it (the bug this
    scenario found: a full spool used to send good photos to quarantine)."""
    log = rig.log()
    if SPOOL_REFUSED in log or "No space left" in log or "disk is full" in log:
        return True
    return rig.ledger.exists() and rig.ledger.file_counts()["quarantined"] > 0


@pytest.mark.parametrize("full", ["spool", "state"])
def test_r5_a_full_disk_delays_files_and_loses_none(
    site: Site,
    rigs: Callable[..., Rig],
    oracle: Callable[..., Figures],
    scale: Scale,
    seed: int,
    full: str,
) -> None:
    remotes, env = sites.route(site, sites.folder(site))
    mountpoint = site.state / "spool" if full == "spool" else site.state
    with tmpfs(mountpoint, "8m"):
        rig = rigs(site, remotes, env=env)
        rig.start()
        rig.wait_started()
        filler = fill(mountpoint, leave=1500 * KB if full == "spool" else 200 * KB)
        manifest = Manifest(site.inbox)
        for i in range(8):
            manifest.drop(f"scan_{i}.jpg", sized_jpeg(seed * 100 + i, 600 * KB))
        rig.wait(lambda: disk_full_seen(rig), scale.timeout, "a write to fail for want of space")
        quarantined_while_full = rig.ledger.file_counts()["quarantined"]
        filler.unlink()
        rig.wait_drained(manifest, scale.timeout, "the queue after space was freed")
        rig.stop()
        refusals = rig.log().count(SPOOL_REFUSED)
        oracle(
            rig,
            manifest,
            f"R5 disk full ({full})",
            seed,
            **{
                "spool writes refused": str(refusals),
                "quarantined while full": str(quarantined_while_full),
            },
        )
