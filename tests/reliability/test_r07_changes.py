"""R7: files that change under the daemon: deleted after discovery, renamed while being hashed,
overwritten while being read, overwritten while being uploaded.

Each change is made at the moment the ledger shows the file in the matching state (discovered,
preparing, uploading). Pass: no object ever holds mixed content (every plaintext equals one
whole version the test wrote), the newest version of each surviving file arrives exactly once,
an older version at most once, and a deleted file is either delivered once or gone, recorded
as "vanished" in the audit log (never a silent loss of a file that stayed).
"""

from __future__ import annotations

from collections.abc import Callable

from tests.emulators.dropbox import DropboxEmulator
from tests.emulators.tls import LoopbackTls
from tests.helpers import Site
from tests.reliability import sites
from tests.reliability.generate import KB, MB, sized_jpeg
from tests.reliability.manifest import Expect, Manifest
from tests.reliability.oracle import Figures
from tests.reliability.rig import Rig
from tests.reliability.scale import Scale


def test_r7_deleted_renamed_and_overwritten_files_never_mix_and_never_vanish_silently(
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
    manifest = Manifest(site.inbox)
    ledger = rig.ledger
    n = iter(range(seed * 100, seed * 100 + 100))

    def in_state(rel: str, *states: str) -> Callable[[], bool]:
        return lambda: bool(set(ledger.states_of(rel)) & set(states))

    # Deleted after discovery: big files keep both workers busy, so the victims wait as "new".
    for i in range(3):
        manifest.drop(f"busy_{i}.jpg", sized_jpeg(next(n), 8 * MB))
    victims = [f"victim_{i}.jpg" for i in range(8)]
    for rel in victims:
        manifest.drop(rel, sized_jpeg(next(n), 40 * KB), expect=Expect.VANISH)
    for rel in victims:
        rig.wait(in_state(rel, "new", "preparing", "spooled", "done"), scale.timeout, f"{rel} seen")
        (site.inbox / rel).unlink()

    # Renamed while it is being read: the new name is a new file; the old one vanished.
    manifest.drop("rename_me.jpg", sized_jpeg(next(n), 40 * MB))
    rig.wait(in_state("rename_me.jpg", "preparing", "spooled", "done"), scale.timeout, "hashing")
    manifest.rename("rename_me.jpg", "renamed.jpg")

    # Overwritten in place while it is being read: the read is discarded and done again.
    manifest.drop("rewrite_while_read.jpg", sized_jpeg(next(n), 30 * MB))
    rig.wait(
        in_state("rewrite_while_read.jpg", "preparing", "spooled", "done"), scale.timeout, "read"
    )
    manifest.drop("rewrite_while_read.jpg", sized_jpeg(next(n), 30 * MB), atomic=False)

    # Overwritten while its upload is running: the sealed old version goes up whole; the new
    # version is taken as a new file.
    dropbox_emulator.set_latency(0.3)
    manifest.drop("rewrite_while_uploading.jpg", sized_jpeg(next(n), 2 * MB))
    rig.wait(
        lambda: (
            "running" in ledger.delivery_states_of("rewrite_while_uploading.jpg")
            or "done" in ledger.states_of("rewrite_while_uploading.jpg")
        ),
        scale.timeout,
        "the upload to start",
    )
    manifest.drop("rewrite_while_uploading.jpg", sized_jpeg(next(n), 2 * MB + 1), atomic=False)
    rig.wait_drained(manifest, scale.timeout)
    dropbox_emulator.set_latency(0.0)
    rig.stop()
    gone = sum(1 for rel in victims if not any(s == "done" for s in ledger.states_of(rel)))
    oracle(
        rig,
        manifest,
        "R7 files change under us",
        seed,
        **{
            "deleted files never delivered": f"{gone} of {len(victims)}",
            "ledger rows per changed file": ", ".join(
                f"{rel}: {'/'.join(ledger.states_of(rel))}"
                for rel in (
                    "rename_me.jpg",
                    "renamed.jpg",
                    "rewrite_while_read.jpg",
                    "rewrite_while_uploading.jpg",
                )
            ),
        },
    )
