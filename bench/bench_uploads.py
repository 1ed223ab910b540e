"""Benchmark: uploads from the picsync daemon to the Dropbox or the Box emulator with injected
latency, with 1 and with 8 workers (not a test). The anchor is the same daemon with one worker.

Usage: python bench/bench_uploads.py [--service dropbox|box|both] [--files 120]
       [--latency 0.05] [--workers 1,8] [--runs 3]

The emulator (tests/emulators/, a loopback HTTPS server the real Dropbox or Box SDK talks to)
runs in this process with ``set_latency(seconds)`` added before every response. The daemon runs
as a subprocess (`python -m picsync run -c FILE`) with the emulator's
``client_environment(ca)``, as tests/test_dropbox_daemon.py and tests/test_box_daemon.py do.
Each file is a small distinct JPEG with planted metadata, so what is measured is round trips,
not bytes: each delivery uploads the sealed image and the sealed manifest (at the same time);
Dropbox commits go through picsync's per-destination commit batcher, Box uploads are one
request each.

To time uploads without the preparing (scrub + seal, CPU-bound on 2 cores) the destination has
an upload window (``window: HH:MM-HH:MM`` UTC) that opens at the next minute boundary at least
``--margin`` seconds ahead: files are sealed at once while the window is closed, then every
worker starts uploading when it opens. Upload time runs from the opening (this process's
time.monotonic() for that instant) to the last "uploaded" audit record (the daemon's
time.monotonic(), the same clock). Idle workers wake at the opening. A run takes about a
minute because of the window.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import benchlib
from benchlib import Clinic, Daemon

from tests.emulators.box import BoxEmulator
from tests.emulators.dropbox import DropboxEmulator
from tests.emulators.tls import make_loopback_tls
from tests.helpers import make_jpeg


def window_opening(margin: float) -> tuple[str, float]:
    """A window rule opening at the next minute boundary >= ``margin`` s away (UTC), and that
    opening as a time.monotonic() value of this process."""
    now = datetime.now(tz=UTC)
    opens = (now + timedelta(seconds=margin + 60)).replace(second=0, microsecond=0)
    if (opens - now).total_seconds() - 60 >= margin:
        opens -= timedelta(minutes=1)
    closes = opens + timedelta(hours=2)
    rule = f"{opens:%H:%M}-{closes:%H:%M}"
    return rule, time.monotonic() + (opens - now).total_seconds()


def dropbox_destination(work: Path, emulator: DropboxEmulator) -> dict[str, Any]:
    token = work / "dropbox.token"
    token.write_text(emulator.pkce_refresh_token + "\n")
    token.chmod(0o600)
    return {
        "type": "dropbox",
        "region": "eu",
        "app_key": emulator.app_key,
        "refresh_token_file": str(token),
        "root": f"/bench-{work.name}",
    }


def box_destination(work: Path, emulator: BoxEmulator) -> dict[str, Any]:
    secret = work / "box.secret"
    secret.write_text(emulator.client_secret + "\n")
    secret.chmod(0o600)
    return {
        "type": "box",
        "region": "us",
        "folder_id": emulator.create_folder(f"bench-{work.name}"),
        "auth": "ccg",
        "client_id": emulator.client_id,
        "client_secret_file": str(secret),
        "enterprise_id": emulator.enterprise_id,
    }


def stored_objects(emulator: Any, work: Path) -> int:
    """Objects this run stored (each run has a root folder of its own)."""
    prefix = f"bench-{work.name}".lower()
    return sum(1 for path in emulator.files() if prefix in path.lower())


def run(
    work: Path,
    emulator: Any,
    env: dict[str, str],
    files: list[bytes],
    workers: int,
    margin: float,
) -> dict[str, Any]:
    clinic = Clinic(work)
    work.mkdir(parents=True)
    rule, opens_at = window_opening(margin)
    make = box_destination if isinstance(emulator, BoxEmulator) else dropbox_destination
    destination = {**make(work, emulator), "window": rule}
    clinic.write_config(
        {"cloud": destination}, region=destination["region"], workers=workers, timezone="UTC"
    )
    for index, data in enumerate(files):
        (clinic.inbox / f"IMG_{index:05d}.jpg").write_bytes(data)
    before = len(emulator.requests())
    start = time.monotonic()
    with Daemon(clinic, env=env) as daemon:
        sealed = benchlib.poll(
            lambda: len(clinic.audit_records("sealed")) >= len(files), 600, "sealing", daemon, 0.2
        )
        if sealed > opens_at:
            raise RuntimeError("sealing outlasted the closed window; raise --margin")
        done = benchlib.poll(
            lambda: clinic.done_files() >= len(files), 900, "every upload", daemon, 0.05
        )
    uploaded = [r["mono"] for r in clinic.audit_records("uploaded")]
    requests = emulator.requests()[before:]
    routes = Counter(r.route for r in requests)
    stored = stored_objects(emulator, work)
    if stored != 2 * len(files):
        raise RuntimeError(f"the emulator holds {stored} objects of this run, not {2 * len(files)}")
    shutil.rmtree(work)
    return {
        "upload": max(uploaded) - opens_at,
        "first": min(uploaded) - opens_at,
        "sealing": sealed - start,
        "wall": done - start,
        "routes": routes,
    }


def measure(service: str, args: argparse.Namespace, counts: list[int]) -> None:
    benchlib.header(f"uploads to the {service} emulator with {args.latency * 1000:.0f} ms latency")
    files = [make_jpeg(seed, size=64) for seed in range(args.files)]
    results: dict[int, list[dict[str, Any]]] = {n: [] for n in counts}
    with tempfile.TemporaryDirectory(prefix=f"bench_{service}_") as tmp:
        work = Path(tmp)
        tls = make_loopback_tls(work)
        kind = BoxEmulator if service == "box" else DropboxEmulator
        emulator: Any = kind(tls=tls.server_context()).start()
        try:
            emulator.set_latency(args.latency)
            env = emulator.client_environment(tls.ca_path)
            env["PYTHONPATH"] = str(benchlib.ROOT)
            for repeat in range(args.runs):  # interleaved worker counts
                for n in counts:
                    row = run(work / f"w{n}-r{repeat}", emulator, env, files, n, args.margin)
                    results[n].append(row)
                    print(
                        f"# {n} workers, run {repeat + 1}: {row['upload']:.2f} s to upload "
                        f"(first upload done {row['first']:.2f} s after the opening; sealing "
                        f"took {row['sealing']:.1f} s), load {benchlib.loadavg()}",
                        flush=True,
                    )
            if emulator.errors:
                raise RuntimeError(f"the emulator raised: {emulator.errors!r}")
        finally:
            emulator.stop()
    base = benchlib.median(r["upload"] for r in results[counts[0]])
    print(
        f"{service}: median of {args.runs} runs; {args.files} files (image + manifest each); "
        f"ratio = files/s / files/s with {counts[0]} worker(s)"
    )
    print(f"{'workers':>7} {'upload s':>9} {'files/s':>8} {'ratio':>6} {'requests/file':>14}")
    for n in counts:
        upload = benchlib.median(r["upload"] for r in results[n])
        per_file = sum(results[n][-1]["routes"].values()) / args.files
        print(
            f"{n:>7} {upload:9.2f} {args.files / upload:8.1f} {base / upload:6.2f} {per_file:14.2f}"
        )
    last = {n: dict(results[n][-1]["routes"]) for n in counts}
    print(f"requests by route (last run): {last}")
    benchlib.footer()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--service", choices=["dropbox", "box", "both"], default="both")
    parser.add_argument("--files", type=int, default=120, help="files per run")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per response")
    parser.add_argument("--workers", default="1,8", help="comma-separated worker counts")
    parser.add_argument("--runs", type=int, default=3, help="runs per worker count (median)")
    parser.add_argument("--margin", type=float, default=20.0, help="seconds to seal before")
    args = parser.parse_args(argv)
    counts = [int(v) for v in args.workers.split(",")]
    services = ["dropbox", "box"] if args.service == "both" else [args.service]
    for service in services:
        measure(service, args, counts)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
