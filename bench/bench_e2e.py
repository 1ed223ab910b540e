"""Benchmark: the picsync daemon, watched folder to folder destination, sealed, beside
`rclone copy` into an rclone crypt remote over the same files; and close-to-delivered latency.

Usage: python bench/bench_e2e.py [--files 100] [--size 2048x1536] [--formats jpeg] [--runs 3]
                                 [--latency-files 21] [--settles default,0.1] [--workers 2]
                                 [--preload 0] [--skip-throughput] [--skip-latency]

Throughput. A set of camera-like JPEGs with realistic FAKE metadata (bench/samples.py) is
generated once in a temporary directory (deleted afterwards). Each run, interleaved:

  - picsync: `python -m picsync run -c FILE` as a subprocess (like tests/helpers.py's Daemon)
    with a fresh state directory and outbox, the set already in the watched folder (found by the
    catch-up scan; the files are older than the quiet time, so no settle wait applies), and the
    default 2 workers. Timed from the start of the process until the ledger records every file
    delivered (polled every 50 ms); "steady" is the first "discovered" to the last "uploaded"
    audit record (start-up excluded). picsync reads each file, de-identifies it, seals image
    and manifest into the spool (fsync), copies both to the outbox (fsync, rename, fsync of the
    folder), re-reads them for the SHA-256 it verifies, and commits each step to SQLite
    (synchronous=FULL) and the fsynced audit log;
  - rclone: `rclone copy SET crypt:` into a crypt remote over a local folder, configured only by
    RCLONE_CONFIG_* variables with a password from `rclone obscure`; default flags (4 transfers).
    rclone encrypts names and contents (XSalsa20-Poly1305, 64 KiB chunks), does not fsync and
    cannot verify a hash through crypt: it does strictly less work than picsync.

MB/s is of the input (1 MB = 10^6 bytes); CPU s is user+system time of the process.
``--preload N`` first puts N earlier deliveries (image + manifest, empty files) in picsync's
outbox folder for this month, as a destination holds late in a busy month.

Latency. The daemon runs idle on an empty watched folder; one file at a time is written there
(open, write, close) and the next only after the previous one was delivered and a random pause
of 0.05-0.55 s (so writes fall at every phase of the watcher's 0.25 s tick), so each figure is
an unloaded latency. Close is taken with time.monotonic() right after close() here; delivered
is the "mono" field (the daemon's time.monotonic(): CLOCK_MONOTONIC, one clock for every
process on Linux) of the audit log's "uploaded" record, written after the destination's copy
was re-read and its SHA-256 verified (and before the ledger commit). Files are matched through
the "discovered" record's source SHA-256. Reported for the default settle (2 s of quiet after
close) and for small settles; p50/p95 are nearest-rank. The split uses the ledger's
discovered_at (the daemon's time.time() when the watcher recorded the file) against this
process's time.time() at close: close-to-recorded is the watcher (event, 0.25 s tick, settle,
completeness check), recorded-to-delivered is the workers (prepare, seal, copy, verify).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

import benchlib
import samples
from benchlib import Clinic, Daemon

MB = 1_000_000


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def outbox_images(outbox: Path) -> int:
    return sum(
        1
        for p in outbox.rglob("*.age")
        if not p.name.endswith(".json.age") and not p.name.startswith(".")
    )


def folder_destination(outbox: Path) -> dict[str, Any]:
    return {"outbox": {"type": "folder", "path": str(outbox)}}


def preload(outbox: Path, pairs: int) -> None:
    """``pairs`` earlier deliveries (empty image + manifest files) in this month's folder, as a
    destination holds late in a busy month (the default template is {station}/{yyyy}/{mm}/{id})."""
    month = outbox / "bench-station" / datetime.now(tz=UTC).strftime("%Y/%m")
    month.mkdir(parents=True)
    for index in range(pairs):
        for suffix in (".jpg.age", ".json.age"):
            (month / f"earlier{index:08d}{suffix}").touch()


def run_picsync(
    work: Path, inbox: Path, count: int, workers: int, preloaded: int = 0
) -> dict[str, float]:
    clinic = Clinic(work)
    outbox = work / "outbox"
    outbox.mkdir(parents=True)
    if preloaded:
        preload(outbox, preloaded)
    clinic.write_config(folder_destination(outbox), source={"path": str(inbox)}, workers=workers)
    daemon = Daemon(clinic)
    start = time.monotonic()
    daemon.start()
    sampler = benchlib.Sampler(daemon.pid)
    try:
        done = benchlib.poll(
            lambda: clinic.done_files() >= count,
            1800,
            "every file delivered",
            daemon,
            0.05,
            sampler,
        )
        cpu = cpu_seconds(daemon.pid)
        sampler.sample()
    finally:
        daemon.stop()
    if outbox_images(outbox) != count + preloaded:
        raise RuntimeError(f"outbox holds {outbox_images(outbox)} images, not {count}")
    discovered = [r["mono"] for r in clinic.audit_records("discovered")]
    uploaded = [r["mono"] for r in clinic.audit_records("uploaded")]
    result = {
        "wall": done - start,
        "steady": max(uploaded) - min(discovered),
        "cpu": cpu,
        "rss": sampler.peak,
    }
    shutil.rmtree(work)
    return result


def rclone_env(work: Path) -> dict[str, str]:
    obscured = subprocess.run(
        ["rclone", "obscure", "bench-crypt-password"], capture_output=True, text=True, check=True
    ).stdout.strip()
    config = work / "rclone.conf"
    config.write_text("")
    return {
        **os.environ,
        "RCLONE_CONFIG": str(config),
        "RCLONE_CONFIG_BENCHCRYPT_TYPE": "crypt",
        "RCLONE_CONFIG_BENCHCRYPT_REMOTE": str(work / "crypt-target"),
        "RCLONE_CONFIG_BENCHCRYPT_PASSWORD": obscured,
    }


def run_rclone(work: Path, inbox: Path, count: int, env: dict[str, str]) -> dict[str, float]:
    target = work / "crypt-target"
    target.mkdir(parents=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    subprocess.run(["rclone", "copy", str(inbox), "benchcrypt:"], env=env, check=True)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stored = sum(1 for p in target.rglob("*") if p.is_file())
    if stored != count:
        raise RuntimeError(f"rclone stored {stored} files, not {count}")
    shutil.rmtree(target)
    return {"wall": wall, "cpu": cpu}


def latency(
    work: Path, files: list[Path], settle: float | None, workers: int
) -> dict[str, list[float]]:
    """Close-to-delivered seconds, one file at a time, for a source with ``settle``; split into
    close-to-recorded (the watcher) and recorded-to-delivered (prepare and deliver)."""
    clinic = Clinic(work)
    outbox = work / "outbox"
    outbox.mkdir(parents=True)
    source: dict[str, Any] = {} if settle is None else {"settle": settle}
    clinic.write_config(folder_destination(outbox), source=source, workers=workers)
    closed_at: dict[str, tuple[float, float]] = {}
    with Daemon(clinic) as daemon:
        benchlib.wait_for_ready(daemon)
        time.sleep(1.0)  # let the catch-up scan of the empty folder pass
        pause = random.Random(7)
        for index, path in enumerate(files):
            data = path.read_bytes()
            # A random pause, so that writes do not fall at the same phase of the watcher's
            # 0.25 s tick every time (writing right after the previous delivery would).
            time.sleep(pause.uniform(0.05, 0.55))
            with open(clinic.inbox / f"IMG_{index:04d}{path.suffix}", "wb") as out:
                out.write(data)
            closed_at[sha256(data).hexdigest()] = (time.monotonic(), time.time())
            benchlib.poll(
                lambda n=index + 1: clinic.done_files() >= n, 120, "the delivery", daemon, 0.01
            )
    file_of = {r["source_sha256"]: r["file"] for r in clinic.audit_records("discovered")}
    delivered = {r["file"]: r["mono"] for r in clinic.audit_records("uploaded")}
    with sqlite3.connect(clinic.ledger_path) as conn:
        recorded = dict(conn.execute("SELECT id, discovered_at FROM files"))
    split: dict[str, list[float]] = {"total": [], "watcher": []}
    for digest, (mono, wall) in closed_at.items():
        split["total"].append(delivered[file_of[digest]] - mono)
        split["watcher"].append(recorded[file_of[digest]] - wall)  # both time.time()
    split["worker"] = [t - w for t, w in zip(split["total"], split["watcher"], strict=True)]
    shutil.rmtree(work)
    return split


def wait_until_quiet(files: list[Path], quiet: float) -> None:
    """Sleep until every file's last change is older than ``quiet`` seconds."""
    newest = max(p.stat().st_ctime for p in files)
    time.sleep(max(0.0, newest + quiet - time.time()))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--files", type=int, default=100, help="files in the throughput set")
    parser.add_argument("--size", default="2048x1536", help="image size WxH (default 2048x1536)")
    parser.add_argument("--formats", default="jpeg", help="comma-separated, see samples.py")
    parser.add_argument("--distinct", type=int, default=8, help="encoded files per format")
    parser.add_argument("--runs", type=int, default=3, help="throughput runs (median printed)")
    parser.add_argument("--workers", type=int, default=2, help="picsync workers (default 2)")
    parser.add_argument("--latency-files", type=int, default=21, help="files per settle value")
    parser.add_argument(
        "--settles", default="default,0.1", help="settle values for the latency runs"
    )
    parser.add_argument(
        "--preload",
        type=int,
        default=0,
        help="earlier deliveries already in the outbox's month folder (picsync runs only)",
    )
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args(argv)
    if shutil.which("rclone") is None and not args.skip_throughput:
        print("rclone is not installed (apt-get install rclone)", file=sys.stderr)
        return 2
    formats = tuple(args.formats.split(","))
    width, height = (int(v) for v in args.size.lower().split("x"))
    warnings.simplefilter("ignore")

    benchlib.header("end to end: picsync daemon (folder, sealed) vs rclone copy to crypt")
    with tempfile.TemporaryDirectory(prefix="bench_e2e_") as tmp:
        work = Path(tmp)
        inbox = work / "set"
        per_format = -(-args.files // len(formats))
        files = samples.write_set(
            inbox, formats, per_format, (width, height), distinct=args.distinct, unique=True
        )[: args.files]
        for extra in sorted(inbox.iterdir())[len(files) :]:
            extra.unlink()
        total = sum(p.stat().st_size for p in files)
        print(f"# {len(files)} files, {total / MB:.1f} MB ({args.formats}, {args.size})")
        if args.preload:
            print(f"# picsync's outbox month folder holds {args.preload} earlier deliveries")
        if not args.skip_throughput:
            wait_until_quiet(files, 10.5)  # older than the default 10 s quiet time for scans
            env = rclone_env(work)
            ours: list[dict[str, float]] = []
            theirs: list[dict[str, float]] = []
            for run in range(args.runs):
                ours.append(
                    run_picsync(
                        work / f"picsync{run}", inbox, len(files), args.workers, args.preload
                    )
                )
                theirs.append(run_rclone(work, inbox, len(files), env))
                print(f"# run {run + 1}/{args.runs} done, load {benchlib.loadavg()}", flush=True)
            report_throughput(ours, theirs, len(files), total, args.runs)
        if not args.skip_latency:
            for value in args.settles.split(","):
                settle = None if value == "default" else float(value)
                split = latency(
                    work / f"latency-{value}", files[: args.latency_files], settle, args.workers
                )
                seconds = split["total"]
                label = "2 (default)" if settle is None else f"{settle:g}"
                print(
                    f"latency close->delivered, settle {label} s: "
                    f"p50 {benchlib.percentile(seconds, 0.5):.3f} s, "
                    f"p95 {benchlib.percentile(seconds, 0.95):.3f} s, "
                    f"min {min(seconds):.3f} s, max {max(seconds):.3f} s "
                    f"({len(seconds)} files); p50 close->recorded (watcher) "
                    f"{benchlib.percentile(split['watcher'], 0.5):.3f} s, "
                    f"recorded->delivered (workers) "
                    f"{benchlib.percentile(split['worker'], 0.5):.3f} s",
                    flush=True,
                )
    benchlib.footer()
    return 0


def report_throughput(
    ours: list[dict[str, float]], theirs: list[dict[str, float]], count: int, total: int, runs: int
) -> None:
    def med(rows: list[dict[str, float]], key: str) -> float:
        return benchlib.median(row[key] for row in rows)

    wall, steady, rclone = med(ours, "wall"), med(ours, "steady"), med(theirs, "wall")
    print(f"median of {runs} runs; MB/s and files/s of input; ratio = picsync / rclone in MB/s")
    print(f"{'':>24} {'seconds':>8} {'MB/s':>7} {'files/s':>8} {'CPU s':>6} {'ratio':>6}")
    print(
        f"{'picsync (from start)':>24} {wall:8.2f} {total / MB / wall:7.1f} "
        f"{count / wall:8.1f} {med(ours, 'cpu'):6.1f} {rclone / wall:6.2f}"
    )
    print(
        f"{'picsync (steady)':>24} {steady:8.2f} {total / MB / steady:7.1f} "
        f"{count / steady:8.1f} {'':>6} {rclone / steady:6.2f}"
    )
    print(
        f"{'rclone copy to crypt':>24} {rclone:8.2f} {total / MB / rclone:7.1f} "
        f"{count / rclone:8.1f} {med(theirs, 'cpu'):6.1f} {1.0:6.2f}"
    )
    print(f"picsync daemon peak RSS (VmHWM): {med(ours, 'rss'):.1f} MiB", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
