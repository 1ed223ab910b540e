"""R6: permissions. A source file that cannot be read, a folder that cannot be entered, a
spool that cannot be written.

Root reads anything, so the daemon runs as root *without capabilities* (``setpriv`` clears
the bounding set): file modes then bind it like any unprivileged user, while the site stays
the test's own. Pass: the unreadable file is retried with back-off and delivered once it is
readable again (or, left unreadable, quarantined with the reason after max_attempts); files in
an unenterable folder arrive once it opens (the periodic rescan); a read-only spool delays
files without quarantining them; every other file is delivered meanwhile; the daemon never
exits. A spool that turns read-only under files already spooled must not undo their
completed deliveries (it did: the failed clean-up sent a done delivery back to the queue and
the file then looped between delivered and disposing for good).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

import pytest

from tests.helpers import Site
from tests.reliability import sites
from tests.reliability.generate import KB, sized_jpeg
from tests.reliability.manifest import Expect, Manifest
from tests.reliability.oracle import Figures
from tests.reliability.rig import Rig
from tests.reliability.scale import Scale

NO_CAPS = ("setpriv", "--bounding-set=-all", "--inh-caps=-all", "--")
RETRY = {"base_delay": 0.2, "max_delay": 1.0, "max_attempts": 6, "blocked_pause": 1.0}


def capabilities_can_be_dropped(site: Site) -> str | None:
    """None when a process started behind NO_CAPS cannot read a mode-000 file; else why not."""
    if shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    probe = site.root / "probe-000"
    probe.write_bytes(b"x")
    probe.chmod(0)
    done = subprocess.run([*NO_CAPS, "cat", str(probe)], capture_output=True)
    probe.unlink()
    if done.returncode == 0:
        return "a process without capabilities still reads mode-000 files here"
    return None


def test_r6_unreadable_sources_and_spool_delay_files_and_never_stop_the_daemon(
    site: Site,
    rigs: Callable[..., Rig],
    oracle: Callable[..., Figures],
    scale: Scale,
    seed: int,
) -> None:
    why_not = capabilities_can_be_dropped(site)
    if why_not:
        pytest.skip(f"cannot run the daemon unprivileged: {why_not}")
    remotes, env = sites.route(site, sites.folder(site), retry=RETRY)
    rig = rigs(site, remotes, env=env, prefix=NO_CAPS)
    rig.start()
    rig.wait_started()
    manifest = Manifest(site.inbox)

    def good(name: str, n: int) -> None:
        manifest.drop(name, sized_jpeg(seed * 100 + n, 30 * KB))

    # An unreadable file, readable again after a few failed attempts.
    later = manifest.drop("locked.jpg", sized_jpeg(seed * 100 + 1, 30 * KB))
    (site.inbox / later.rel_path).chmod(0)
    # One that stays unreadable: quarantined with the reason once the attempts run out.
    never = manifest.drop(
        "never.jpg", sized_jpeg(seed * 100 + 2, 30 * KB), expect=Expect.QUARANTINE
    )
    (site.inbox / never.rel_path).chmod(0)
    # A folder the daemon may not enter, with files inside.
    private = site.inbox / "private"
    private.mkdir()
    for i in range(3):
        manifest.drop(f"private/IMG_{i}.jpg", sized_jpeg(seed * 100 + 10 + i, 30 * KB))
    private.chmod(0)
    for i in range(5):
        good(f"ok_{i}.jpg", 20 + i)
    rig.wait(
        lambda: rig.ledger.attempts_of("locked.jpg") >= 2, scale.timeout, "retries of locked.jpg"
    )
    (site.inbox / "locked.jpg").chmod(0o644)
    private.chmod(0o755)
    rig.wait_drained(manifest, scale.timeout, "unreadable files to be delivered or quarantined")

    # A spool that cannot be written: files wait (not quarantined) until it can.
    spool = site.state / "spool"
    spool.chmod(0o500)
    try:
        for i in range(4):
            good(f"while_readonly_{i}.jpg", 40 + i)
        rig.wait(
            lambda: "cannot write the spool" in rig.log(),
            scale.timeout,
            "the read-only spool to refuse a write",
        )
    finally:
        spool.chmod(0o700)
    rig.wait_drained(manifest, scale.timeout, "files held back by the read-only spool")

    # Files already spooled when the spool turns read-only: their deliveries complete and stay
    # complete although the spool files cannot be removed (the next start removes them).
    away = site.root / "outbox.away"
    site.outbox.rename(away)  # the destination is "unmounted": deliveries wait, files spool
    spooled_before = rig.ledger.file_counts()["spooled"]
    for i in range(3):
        good(f"spooled_{i}.jpg", 60 + i)
    rig.wait(
        lambda: rig.ledger.file_counts()["spooled"] >= spooled_before + 3,
        scale.timeout,
        "three files spooled for the missing destination",
    )
    spool.chmod(0o500)
    try:
        away.rename(site.outbox)
        rig.wait(lambda: rig.ledger.busy() == 0, scale.timeout, "deliveries to complete")
    finally:
        spool.chmod(0o700)
    left_behind = len(rig.ledger.spool_files())
    rig.stop()
    rig.start()
    rig.wait_drained(manifest, scale.timeout, "the restart that clears the spool")
    rig.stop()
    oracle(
        rig,
        manifest,
        "R6 permissions",
        seed,
        **{
            "attempts before locked.jpg was readable": str(rig.ledger.attempts_of("locked.jpg")),
            "spool files the read-only spool kept": str(left_behind),
        },
    )
