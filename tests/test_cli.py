"""The operator's commands against a real state directory, and what they may show."""

from __future__ import annotations

import json
import time

from picsync.ledger import Ledger, NewDelivery
from picsync.model import Payload, Signature
from tests.helpers import Daemon, Site, delivered_images, make_jpeg, picsync, wait_for

PLANTED = ("Doe, Jane", "1961-07-04", "Smith_John", "MRN12345")


def test_status_before_first_run_says_so(site: Site) -> None:
    done = picsync("status", "-c", str(site.config))
    assert done.returncode == 1
    assert "no ledger yet" in done.stderr


def test_status_json_shape(site: Site, daemons: list[Daemon]) -> None:
    daemon = Daemon(site).start()
    daemons.append(daemon)
    (site.inbox / "a.jpg").write_bytes(make_jpeg(1))
    wait_for(lambda: len(delivered_images(site.outbox)) == 1, 30, "delivery")
    wait_for(
        lambda: (
            json.loads(picsync("status", "--json", "-c", str(site.config)).stdout)["files"]
            == {"done": 1}
        ),
        10,
        "file done",
    )
    snap = json.loads(picsync("status", "--json", "-c", str(site.config)).stdout)
    assert snap["deliveries"] == {"outbox": {"done": 1}}
    assert snap["oldest_pending_s"] is None
    human = picsync("status", "-c", str(site.config))
    assert human.returncode == 0
    assert "outbox" in human.stdout and "nothing waiting" in human.stdout
    assert daemon.terminate() == 0


def test_no_patient_names_in_logs_status_or_remote_names(site: Site, daemons: list[Daemon]) -> None:
    folder = site.inbox / "Doe, Jane (DOB 1961-07-04)"
    folder.mkdir()
    (folder / "Smith_John_MRN12345.jpg").write_bytes(make_jpeg(2))
    (folder / "Smith_John_MRN12345_cut.jpg").write_bytes(make_jpeg(3)[:300])  # never completes
    site.write_config(source={"max_wait": 1.0})
    daemon = Daemon(site).start()
    daemons.append(daemon)
    wait_for(lambda: len(delivered_images(site.outbox)) == 1, 30, "delivery")
    wait_for(
        lambda: (
            json.loads(picsync("status", "--json", "-c", str(site.config)).stdout)["files"]
            == {"done": 1, "quarantined": 1}
        ),
        30,
        "quarantine of the incomplete file",
    )
    assert daemon.terminate() == 0
    shown = [
        daemon.log(),
        picsync("status", "-c", str(site.config)).stdout,
        picsync("status", "--json", "-c", str(site.config)).stdout,
        "\n".join(str(p.relative_to(site.outbox)) for p in site.outbox.rglob("*")),
    ]
    for text in shown:
        for planted in PLANTED:
            assert planted not in text
    # The operator on this machine may ask for the real paths.
    local = picsync("status", "--paths", "-c", str(site.config)).stdout
    assert "Smith_John_MRN12345_cut.jpg" in local


def test_retry_revives_dead_deliveries(site: Site) -> None:
    site.state.mkdir()
    ledger = Ledger(site.state / "ledger.sqlite3")
    file_id = ledger.discover("camera", "k", "a.jpg", Signature(1, 1, 1, 1), time.time())
    assert file_id is not None
    ledger.claim_prepare(time.time(), ["camera"])
    ledger.spooled(
        file_id,
        "a" * 64,
        "rid",
        [Payload("rid.image", ".jpg", 1, "b" * 64)],
        [NewDelivery("outbox", "s/rid")],
        time.time(),
    )
    job = ledger.claim_delivery(time.time(), ["outbox"])
    assert job is not None
    ledger.bury_delivery(job.delivery_id, "gave up after 5 attempts: disk error")
    done = picsync("retry", "-c", str(site.config))
    assert done.returncode == 0
    assert done.stdout.strip() == "1 dead deliveries queued again"
    assert ledger.delivery_counts() == {"outbox": {"pending": 1}}


def test_add_queues_existing_files(site: Site, daemons: list[Daemon]) -> None:
    site.state.mkdir()
    Ledger(site.state / "ledger.sqlite3").close()
    for i in range(30):
        (site.inbox / f"IMG_{i}.jpg").write_bytes(make_jpeg(300 + i))
    (site.inbox / "half.jpg").write_bytes(make_jpeg(400)[:100])
    outside = site.root / "elsewhere.jpg"
    outside.write_bytes(make_jpeg(401))
    done = picsync("add", "-c", str(site.config), str(site.inbox), str(outside))
    assert done.returncode == 1
    assert done.stdout.strip() == (
        "added 30, already known 0, outside every source folder 1, incomplete 1"
    )
    again = picsync("add", "-c", str(site.config), str(site.inbox / "IMG_0.jpg"))
    assert again.returncode == 0
    assert again.stdout.strip().startswith("added 0, already known 1")
    daemon = Daemon(site).start()
    daemons.append(daemon)
    wait_for(lambda: len(delivered_images(site.outbox)) == 30, 60, "added files delivered")
    assert daemon.terminate() == 0


def test_status_watch_shows_a_live_view_until_ctrl_c(site: Site, daemons: list[Daemon]) -> None:
    import signal
    import subprocess
    import sys

    from tests.helpers import ROOT

    site.write_config(
        timezone="UTC",
        destinations={
            "outbox": {"type": "folder", "path": "outbox", "window": "Mon-Sun 00:00-24:00"}
        },
    )
    daemon = Daemon(site).start()
    daemons.append(daemon)
    (site.inbox / "a.jpg").write_bytes(make_jpeg(5))
    wait_for(lambda: len(delivered_images(site.outbox)) == 1, 30, "delivery")
    viewer = subprocess.Popen(
        [sys.executable, "-m", "picsync", "status", "--watch", "-c", str(site.config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    time.sleep(3)
    viewer.send_signal(signal.SIGINT)
    out, err = viewer.communicate(timeout=20)
    assert viewer.returncode == 0, err
    assert "picsync test-station" in out
    assert "outbox" in out and "open" in out and "1 files" in out
    assert daemon.terminate() == 0
