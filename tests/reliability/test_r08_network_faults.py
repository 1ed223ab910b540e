"""R8: every network fault of tests/emulators/faults.py, against Dropbox and against Box.

Scripted on the upload routes, consumed in order by the first matching requests: 429 with
Retry-After, 500, 502 (a gateway's HTML), 503, a connection reset while the request body
arrives, a stall past the client's timeout, the request applied and then the connection
dropped without an answer (the ambiguous success), a cut-off response; on the chunked routes
too (a 9 MB/21 MB file in 4 MiB pieces). Pass: every file exactly once, no object written
twice, every followed-up Retry-After honoured (the next request for the same target came at
least that long after the answer), and a bounded request count.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from tests.emulators import box_wire, dropbox_wire
from tests.emulators.box import BoxEmulator
from tests.emulators.dropbox import DropboxEmulator
from tests.emulators.faults import Fault
from tests.emulators.tls import LoopbackTls
from tests.helpers import Site
from tests.reliability import sites
from tests.reliability.generate import KB, MB, log_uniform_size, sized_jpeg
from tests.reliability.manifest import Manifest
from tests.reliability.oracle import Figures
from tests.reliability.rig import Rig
from tests.reliability.scale import Scale

MiB = 1 << 20
RETRY_AFTER = 2
TIMEOUT = 3  # the destinations' client timeout: a stall outlives it
# A clean upload costs at most this many requests per stored object (Box: preflight, upload;
# Dropbox: session start and a share of a batch finish), a chunked one one per piece more, and a
# fault at most this many more (the retry itself, a look-up of what landed, a new session...).
PER_OBJECT, PER_FAULT, SETUP = 3, 5, 20

DBX_UPLOAD = "^/2/files/upload$"
DBX_APPEND = "^/2/files/upload_session/append_v2$"
DBX_FINISH = "^/2/files/upload_session/finish_batch_v2$"
BOX_UPLOAD = "^/upload/api/2.0/files/content$"
BOX_PART = "^/upload/api/2.0/files/upload_sessions/[0-9A-Fa-f]+$"
BOX_COMMIT = "^/upload/api/2.0/files/upload_sessions/[0-9A-Fa-f]+/commit$"


def dropbox_faults() -> list[Fault]:
    return [
        dropbox_wire.rate_limit_fault(DBX_UPLOAD, retry_after=RETRY_AFTER, times=2),
        dropbox_wire.server_error_fault(DBX_UPLOAD, status=500),
        dropbox_wire.server_error_fault(DBX_UPLOAD, status=502),
        dropbox_wire.server_error_fault(DBX_UPLOAD, status=503),
        Fault(path=DBX_UPLOAD, drop_after_request_bytes=2000, label="reset mid-body"),
        Fault(path=DBX_UPLOAD, stall=True, label="stall past the timeout"),
        Fault(path=DBX_UPLOAD, drop_after_commit=True, times=2, label="commit, then drop"),
        Fault(path=DBX_UPLOAD, truncate_response=20, label="response cut short"),
        Fault(path=DBX_APPEND, drop_after_request_bytes=100_000, label="chunk reset mid-body"),
        Fault(path=DBX_APPEND, drop_after_commit=True, label="chunk stored, answer lost"),
        dropbox_wire.rate_limit_fault(DBX_FINISH, retry_after=RETRY_AFTER),
        Fault(path=DBX_FINISH, drop_after_commit=True, label="batch committed, answer lost"),
    ]


def box_faults() -> list[Fault]:
    return [
        box_wire.rate_limit_fault(BOX_UPLOAD, retry_after=RETRY_AFTER, times=2),
        box_wire.unavailable_fault(BOX_UPLOAD, status=500),
        box_wire.gateway_fault(BOX_UPLOAD, status=502),
        box_wire.unavailable_fault(BOX_UPLOAD, status=503, retry_after=1),
        Fault(path=BOX_UPLOAD, drop_after_request_bytes=2000, label="reset mid-body"),
        Fault(path=BOX_UPLOAD, stall=True, label="stall past the timeout"),
        Fault(path=BOX_UPLOAD, drop_after_commit=True, times=2, label="commit, then drop"),
        Fault(path=BOX_UPLOAD, truncate_response=20, label="response cut short"),
        Fault(path=BOX_PART, method="PUT", drop_after_request_bytes=100_000, label="part reset"),
        Fault(path=BOX_PART, method="PUT", drop_after_commit=True, label="part stored, lost"),
        Fault(path=BOX_COMMIT, drop_after_commit=True, label="session committed, answer lost"),
    ]


@pytest.mark.parametrize("cloud", ["dropbox", "box"])
def test_r8_network_faults_cost_retries_never_a_loss_or_a_duplicate(
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
        target = sites.dropbox(
            site, dropbox_emulator, loopback_tls, timeout=TIMEOUT, chunk_size=4 * MiB
        )
        faults, big = dropbox_faults(), 9 * MB
        add: Callable[[Fault], object] = dropbox_emulator.add_fault
        pending = dropbox_emulator.server.faults.pending
    else:
        box_emulator.set_part_size(4 * MiB)
        box_emulator.set_commit_accepted(1, retry_after=1)  # "parts not ready yet": 202
        target = sites.box(site, box_emulator, loopback_tls, timeout=TIMEOUT)
        faults, big = box_faults(), 21 * MB
        add = box_emulator.add_fault
        pending = box_emulator.server.faults.pending
    remotes, env = sites.route(site, target)
    rig = rigs(site, remotes, env=env)
    rig.start()
    rig.wait_started()
    for fault in faults:
        add(fault)
    manifest = Manifest(site.inbox)
    rng = random.Random(seed)
    manifest.drop("big/SCAN_0.jpg", sized_jpeg(seed, big))
    for i in range(scale.fault_files):
        size = log_uniform_size(rng, 20 * KB, 400 * KB)
        manifest.drop(f"IMG_{i:04d}.jpg", sized_jpeg(seed * 1000 + i, size))
    rig.wait_drained(manifest, scale.timeout, f"the queue through {len(faults)} kinds of fault")
    rig.stop()
    (remote,) = remotes
    injected = sum(1 for r in remote.requests() if r.fault is not None)
    objects = 2 * len(manifest)
    pieces = 2 * (big // (4 * MiB) + 1)
    bound = SETUP + PER_OBJECT * objects + pieces + PER_FAULT * injected
    unused = [f.describe() for f, _ in pending()]
    figures = oracle(
        rig,
        manifest,
        f"R8 network faults ({cloud})",
        seed,
        **{"faults injected / request bound": f"{injected} / {bound}"},
    )
    (wire,) = [d.wire for d in figures.destinations]
    assert wire is not None
    assert not unused, f"faults never reached (too few requests to exercise them): {unused}"
    assert wire.retry_after_given > 0
    assert wire.retry_after_honoured == wire.retry_after_given - wire.retry_after_unfollowed, (
        f"Retry-After not honoured: shortest wait was {wire.shortest_wait_ratio:.2f} of it"
    )
    assert wire.total <= bound, f"{wire.total} requests for {injected} faults (bound {bound})"
