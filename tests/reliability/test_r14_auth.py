"""R14: auth. An access token that expires mid-run is refreshed without anyone noticing; a
revoked grant (Dropbox refresh token, Box client secret) pauses the destination and keeps
the queue until an operator puts a new credential in place and reloads (SIGHUP).

Pass: every file exactly once; no delivery dead or quarantined; while revoked nothing is
stored and the destination is paused (and said so: an alert); after the reload the queue
drains by itself.
"""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest

from tests.emulators.box import BoxEmulator
from tests.emulators.dropbox import DropboxEmulator
from tests.emulators.tls import LoopbackTls
from tests.helpers import Site
from tests.reliability import sites
from tests.reliability.generate import KB, sized_jpeg
from tests.reliability.manifest import Manifest
from tests.reliability.oracle import Figures
from tests.reliability.rig import Rig
from tests.reliability.scale import Scale

RETRY = {"base_delay": 0.2, "max_delay": 2.0, "max_attempts": 4, "blocked_pause": 0.5}
PAUSED = "destination paused"
ALERT = "destination_blocked"


@pytest.mark.parametrize("cloud", ["dropbox", "box"])
def test_r14_expiry_is_transparent_and_revocation_pauses_and_keeps_the_queue(
    site: Site,
    dropbox_emulator: DropboxEmulator,
    box_emulator: BoxEmulator,
    loopback_tls: LoopbackTls,
    rigs: Callable[..., Rig],
    oracle: Callable[..., Figures],
    scale: Scale,
    seed: int,
    cloud: str,
) -> None:
    if cloud == "dropbox":
        target = sites.dropbox(site, dropbox_emulator, loopback_tls)
        emulator: DropboxEmulator | BoxEmulator = dropbox_emulator
    else:
        target = sites.box(site, box_emulator, loopback_tls)
        emulator = box_emulator
    # Alert conditions are looked at every check_interval (10 s by default): often, here.
    remotes, env = sites.route(site, target, retry=RETRY, health={"check_interval": 0.5})
    rig = rigs(site, remotes, env=env)
    rig.start()
    rig.wait_started()
    manifest = Manifest(site.inbox)
    n = iter(range(seed * 100, seed * 100 + 100))

    def wave(name: str, count: int) -> None:
        for i in range(count):
            manifest.drop(f"{name}/IMG_{i}.jpg", sized_jpeg(next(n), 30 * KB))

    wave("first", 4)
    rig.wait_drained(manifest, scale.timeout, "the first wave")
    tokens_before = len(emulator.requests("oauth2/token"))
    emulator.expire_access_tokens()  # the next call meets a 401: refresh and carry on
    wave("after_expiry", 4)
    rig.wait_drained(manifest, scale.timeout, "the wave after the token expired")
    refreshed = len(emulator.requests("oauth2/token")) - tokens_before
    assert PAUSED not in rig.log(), "an expired access token paused the destination"

    stored_before = len(emulator.files())
    if isinstance(emulator, DropboxEmulator):
        emulator.revoke_refresh_tokens()
        emulator.invalidate_access_tokens()
    else:
        emulator.revoke_client_credentials()
    wave("while_revoked", 5)
    rig.wait(lambda: rig.log().count(PAUSED) >= 3, scale.timeout, "the destination to pause")
    assert len(emulator.files()) == stored_before, "stored while the grant was revoked"
    assert rig.ledger.delivery_counts()["dead"] == 0

    # The operator signs the destination in again and reloads the daemon.
    if isinstance(emulator, DropboxEmulator):
        sites.secret_file(site, "dbx.token", emulator.issue_refresh_token(pkce=True))
    else:
        emulator.auth.add_app(emulator.client_id, "a-new-client-secret")
        sites.secret_file(site, "box.secret", "a-new-client-secret")
    rig.signal(signal.SIGHUP)
    rig.wait_drained(manifest, scale.timeout, "the queue after the new credential")
    rig.stop()
    pauses = rig.log().count(PAUSED)
    oracle(
        rig,
        manifest,
        f"R14 auth ({cloud})",
        seed,
        **{
            "token refreshes after expiry": str(refreshed),
            "pauses while revoked / alert": f"{pauses} / {ALERT in rig.log()}",
        },
    )
    assert refreshed >= 1
    assert ALERT in rig.log()
