"""R2: the daemon SIGKILLs itself at every named crash point; the next start recovers.

One site mirrors to a folder, Dropbox and Box. Round after round, a few new files are dropped,
the daemon is started with PICSYNC_TEST_CRASHPOINT=<point>:<n> and dies there; a plain restart
must then drain the queue (recovery time: restart → first upload, kill → drained). The
"uploaded, not yet recorded" point (deliver.uploaded) runs once per destination, the point
that finds duplicates; the chunked points run with files above the chunk threshold (a 21 MB
file: Dropbox 4 MiB chunks, Box 4 MiB parts). The oracle then checks 0 loss, 0 duplicate,
integrity_check ok and an empty spool, over every round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tests.emulators.box import BoxEmulator
from tests.emulators.dropbox import DropboxEmulator
from tests.emulators.tls import LoopbackTls
from tests.helpers import Site
from tests.reliability import sites
from tests.reliability.generate import KB, MB, sized_jpeg
from tests.reliability.manifest import Manifest
from tests.reliability.oracle import Figures
from tests.reliability.rig import Rig
from tests.reliability.scale import Scale

MiB = 1 << 20
EVERYWHERE = ("outbox", "dbx", "box")
BIG = 21 * MB  # above Box's chunked threshold (20,000,000 bytes) and Dropbox's 4 MiB chunk


@dataclass(frozen=True)
class Round:
    point: str  # name:N, the N-th time the point is reached
    to: tuple[str, ...] = EVERYWHERE
    big: bool = False


ROUNDS = (
    Round("prepare.spool_writing:2"),
    Round("prepare.spool_renamed:2"),
    Round("prepare.committed:2"),
    Round("deliver.uploading:2"),
    Round("deliver.uploaded:2", ("outbox",)),
    Round("deliver.uploaded:2", ("dbx",)),
    Round("deliver.uploaded:2", ("box",)),
    Round("deliver.committed:2"),
    Round("dispose.acted:2"),
    Round("dropbox.appended:2", ("dbx",), big=True),
    Round("box.part_uploaded:2", ("box",), big=True),
)


def test_r2_every_crash_point_recovers_without_loss_or_duplicate(
    site: Site,
    dropbox_emulator: DropboxEmulator,
    box_emulator: BoxEmulator,
    loopback_tls: LoopbackTls,
    rigs: Callable[..., Rig],
    oracle: Callable[..., Figures],
    scale: Scale,
    seed: int,
) -> None:
    box_emulator.set_part_size(4 * MiB)
    targets = (
        sites.folder(site),
        sites.dropbox(site, dropbox_emulator, loopback_tls, chunk_size=4 * MiB),
        sites.box(site, box_emulator, loopback_tls),
    )
    archive = sites.ensure_dir(site.root / "archive")
    remotes, env = sites.route(site, *targets)
    rig = rigs(site, remotes, env=env)
    manifest = Manifest(site.inbox)
    hit: list[str] = []
    for number, step in enumerate(ROUNDS):
        sites.route(
            site,
            *targets,
            source={
                "destinations": list(step.to),
                "after_upload": "move",
                "archive_dir": str(archive),
            },
        )
        for i in range(scale.crash_files):
            data = sized_jpeg(seed * 1000 + number * 100 + i, 40 * KB)
            manifest.drop(f"r{number:02d}/IMG_{i}.jpg", data, to=step.to)
        if step.big:
            manifest.drop(f"r{number:02d}/SCAN.jpg", sized_jpeg(seed + number, BIG), to=step.to)
        rig.start(crashpoint=step.point)
        rig.wait_crash(step.point)
        running = rig.ledger.running_deliveries()
        hit.append(f"{step.point}@{'+'.join(running) or '-'}")
        rig.start()
        rig.wait_drained(manifest, scale.timeout, f"recovery after {step.point}")
        if number < len(ROUNDS) - 1:
            rig.kill()
    rig.stop()
    oracle(
        rig,
        manifest,
        "R2 crash points",
        seed,
        **{"crashed at (point@deliveries running)": ", ".join(hit)},
    )
