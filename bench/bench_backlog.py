"""Benchmark: a backlog of 100,000 files: the catch-up scan, ledger cycles per second, and the
daemon's peak RSS (not a test). The anchors are the targets and a bare os.scandir walk.

Usage: python bench/bench_backlog.py [--files 100000] [--folders 100] [--runs 3]
                                     [--cycles 3000] [--backlog-seconds 30]
                                     [--skip-scan] [--skip-ledger] [--skip-daemon]

Scan. A tree of ``--files`` small distinct JPEGs (a few hundred bytes, each with a unique
comment) in ``--folders`` folders is written to a temporary directory (deleted afterwards) and
left until it is older than the 10 s quiet time for files found by a scan. Then, in this
process, with the real Watcher (picsync/watch.py), a real Ledger and a real AuditLog in a fresh
state directory each run: time ``Watcher.scan(source)`` (walk, include/exclude patterns, keyed
path hashes, comparison with the ledger) and then ``Watcher._settle`` (lstat, the completeness
check that opens every file, one ledger transaction for the batch) until every file is recorded
in the ledger. The observer is not started: inotify only adds hints, the scan is the truth.
Anchor: the same tree walked with os.scandir + stat alone (the floor for any scanner in Python).
Peak RSS of this process during the scan and settle is reported beside its RSS before.

Ledger. On a real SQLite file in a temporary directory (WAL, synchronous=FULL, as the daemon
opens it), ``--cycles`` files are discovered in one batch, then each goes through
claim_prepare -> spooled (2 payloads, 1 delivery) -> claim_delivery -> delivered: 4
transactions per cycle, single thread (then two threads, as the default 2 workers). Anchor: the
same number of bare transactions (BEGIN IMMEDIATE, a one-row UPDATE, COMMIT; 4 per cycle) on a
SQLite file with the same journal settings: what 4 durable commits cost on this disk.

Daemon. `python -m picsync run -c FILE` on the same tree with a folder destination: seconds from
its start until every file is recorded, then it keeps working through the backlog for
``--backlog-seconds``; its VmHWM (peak RSS) from /proc/<pid>/status is reported.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import benchlib
import samples
from benchlib import Clinic, Daemon

from picsync.audit import AuditLog
from picsync.intake import Selection
from picsync.ledger import Discovery, Ledger, NewDelivery
from picsync.model import Payload, PayloadKind, Signature
from picsync.watch import WatchedSource, Watcher
from tests.helpers import make_jpeg

DEFAULT_INCLUDE = ["*.jpg", "*.jpeg", "*.png", "*.tif", "*.tiff", "*.dng", "*.heic", "*.heif"]
DEFAULT_INCLUDE += ["*.pdf", "*.dcm"]


def write_tree(root: Path, files: int, folders: int) -> None:
    base = make_jpeg(1, size=8)
    per_folder = -(-files // folders)
    for index in range(files):
        folder = root / f"day-{index // per_folder:03d}"
        if index % per_folder == 0:
            folder.mkdir(parents=True)
        (folder / f"IMG_{index:06d}.jpg").write_bytes(samples.unique_copy("jpeg", base, index))


def walk_floor(root: Path) -> int:
    count = 0
    stack = [root]
    while stack:
        for entry in os.scandir(stack.pop()):
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                entry.stat(follow_symlinks=False)
                count += 1
    return count


def scan_once(root: Path, state: Path, files: int) -> dict[str, float]:
    state.mkdir()
    ledger = Ledger(state / "ledger.sqlite3")
    source = WatchedSource(
        name="camera",
        root=root,
        mode="inotify",
        selection=Selection(DEFAULT_INCLUDE, []),
        quiet_closed=2.0,
        quiet_unclosed=10.0,
        max_wait=3600.0,
        scan_interval=300.0,
    )
    found = threading.Event()
    watcher = Watcher(
        {"camera": source}, ledger, os.urandom(32), AuditLog(state), found.set, threading.Event()
    )
    benchlib.reset_hwm()
    rss_before = benchlib.self_hwm_mib()
    start = time.perf_counter()
    noted = watcher.scan(source)
    scanned = time.perf_counter()
    recorded = 0
    while recorded < files:
        watcher._settle(watcher.monotonic())
        recorded = int(ledger._conn().execute("SELECT COUNT(*) FROM files").fetchone()[0])
        if watcher.pending_count and recorded < files:
            time.sleep(0.05)
    end = time.perf_counter()
    peak = benchlib.self_hwm_mib()
    ledger.close()
    shutil.rmtree(state)
    if noted != files:
        raise RuntimeError(f"the scan noted {noted} files, not {files}")
    return {
        "scan": scanned - start,
        "settle": end - scanned,
        "total": end - start,
        "rss_before": rss_before,
        "rss_peak": peak,
    }


PAYLOADS = (
    ("image", ".jpg.age", PayloadKind.IMAGE),
    ("manifest", ".json.age", PayloadKind.MANIFEST),
)


def ledger_cycles(folder: Path, cycles: int, threads: int) -> float:
    """Cycles per second (claim_prepare, spooled, claim_delivery, delivered) on a fresh file."""
    ledger = Ledger(folder / f"ledger-{threads}.sqlite3")
    found = [
        Discovery("camera", f"{i:032x}", f"day/IMG_{i:06d}.jpg", Signature(1, i, 500, i))
        for i in range(cycles)
    ]
    ledger.discover_many(found, time.time())
    done = [0] * threads

    def work(slot: int) -> None:
        while True:
            now = time.time()
            job = ledger.claim_prepare(now, ["camera"])
            if job is None:
                return
            ident = f"{job.file_id:026d}"
            payloads = [
                Payload(f"{ident}.{name}.age", suffix, 1000, f"{job.file_id:064x}", kind)
                for name, suffix, kind in PAYLOADS
            ]
            remote = f"station/2026/01/{ident}"
            ledger.spooled(
                job.file_id,
                f"{job.file_id:064x}",
                ident,
                payloads,
                [NewDelivery("outbox", remote)],
                now,
                "epoch",
            )
            delivery = ledger.claim_delivery(now, ["outbox"])
            if delivery is None:
                raise RuntimeError("the delivery just recorded is not there")
            ledger.delivered(delivery.delivery_id, [], now, "onprem")
            done[slot] += 1

    workers = [threading.Thread(target=work, args=(slot,)) for slot in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    ledger.close()
    if sum(done) != cycles:
        raise RuntimeError(f"{sum(done)} cycles done, not {cycles}")
    return cycles / elapsed


def sqlite_floor(folder: Path, cycles: int) -> float:
    """Cycles per second of 4 bare durable transactions (one UPDATE each) on a SQLite file with
    the ledger's settings (WAL, synchronous=FULL): the floor for 4 commits per cycle."""
    conn = sqlite3.connect(folder / "floor.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?, 0)", [(i,) for i in range(cycles)])
    start = time.perf_counter()
    for row in range(cycles):
        for step in range(4):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE t SET v=? WHERE id=?", (step, row))
            conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return cycles / elapsed


def daemon_backlog(work: Path, tree: Path, files: int, seconds: float) -> dict[str, Any]:
    clinic = Clinic(work)
    outbox = work / "outbox"
    outbox.mkdir(parents=True)
    clinic.write_config(
        {"outbox": {"type": "folder", "path": str(outbox)}}, source={"path": str(tree)}
    )
    start = time.monotonic()
    with Daemon(clinic) as daemon:
        sampler = benchlib.Sampler(daemon.pid)
        recorded = benchlib.poll(
            lambda: clinic.known_files() >= files, 600, "the catch-up scan", daemon, 0.1, sampler
        )
        until = time.monotonic() + seconds
        benchlib.poll(lambda: time.monotonic() > until, seconds + 60, "", daemon, 0.5, sampler)
        states = clinic.file_states()
    return {"recorded": recorded - start, "rss": sampler.peak, "states": states}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--folders", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3, help="scan runs (median printed)")
    parser.add_argument("--cycles", type=int, default=3000, help="ledger cycles per run")
    parser.add_argument("--backlog-seconds", type=float, default=30.0)
    parser.add_argument("--skip-scan", action="store_true")
    parser.add_argument("--skip-ledger", action="store_true")
    parser.add_argument("--skip-daemon", action="store_true")
    args = parser.parse_args(argv)

    benchlib.header(f"backlog of {args.files} files in {args.folders} folders")
    with tempfile.TemporaryDirectory(prefix="bench_backlog_") as tmp:
        work = Path(tmp)
        if not args.skip_ledger:
            report_ledger(work, args.cycles, args.runs)
        if args.skip_scan and args.skip_daemon:
            benchlib.footer()
            return 0
        tree = work / "tree"
        start = time.perf_counter()
        write_tree(tree, args.files, args.folders)
        print(f"# wrote the tree in {time.perf_counter() - start:.1f} s", flush=True)
        time.sleep(10.5)  # older than the 10 s quiet time for files found by a scan
        if not args.skip_scan:
            report_scan(work, tree, args.files, args.runs)
        if not args.skip_daemon:
            row = daemon_backlog(work / "daemon", tree, args.files, args.backlog_seconds)
            states = ", ".join(f"{n} {state}" for state, n in sorted(row["states"].items()))
            print(
                f"daemon: every file recorded {row['recorded']:.2f} s after start; "
                f"{args.backlog_seconds:.0f} s later: {states} (files are sealed before any is "
                f"uploaded); peak RSS (VmHWM) {row['rss']:.1f} MiB",
                flush=True,
            )
    benchlib.footer()
    return 0


def report_ledger(work: Path, cycles: int, runs: int) -> None:
    rates: dict[str, list[float]] = {"1": [], "2": [], "floor": []}
    for run in range(runs):  # interleaved, so that the disk's mood hits each alike
        for kind in rates:
            folder = work / f"ledger-{kind}-{run}"
            folder.mkdir()
            if kind == "floor":
                rates[kind].append(sqlite_floor(folder, cycles))
            else:
                rates[kind].append(ledger_cycles(folder, cycles, int(kind)))
            shutil.rmtree(folder)
    floor = benchlib.median(rates["floor"])
    for kind in ("1", "2"):
        rate = benchlib.median(rates[kind])
        print(
            f"ledger: {rate:.0f} claim+record cycles/s with {kind} thread(s) "
            f"(median of {runs}: {', '.join(f'{r:.0f}' for r in rates[kind])}); "
            f"{rate / floor:.2f} of the floor",
            flush=True,
        )
    print(
        f"anchor: {floor:.0f} cycles/s of 4 bare one-row UPDATE transactions, WAL, "
        f"synchronous=FULL (median of {runs}: {', '.join(f'{r:.0f}' for r in rates['floor'])})",
        flush=True,
    )


def report_scan(work: Path, tree: Path, files: int, runs: int) -> None:
    rows = []
    floors = []
    for run in range(runs):
        start = time.perf_counter()
        if walk_floor(tree) != files:
            raise RuntimeError("the tree changed")
        floors.append(time.perf_counter() - start)
        rows.append(scan_once(tree, work / f"state-{run}", files))
        print(f"# scan run {run + 1}/{runs} done, load {benchlib.loadavg()}", flush=True)

    def med(key: str) -> float:
        return benchlib.median(row[key] for row in rows)

    print(
        f"catch-up of {files} files (median of {runs}): scan {med('scan'):.2f} s + settle and "
        f"record {med('settle'):.2f} s = {med('total'):.2f} s; "
        f"anchor os.scandir+stat walk {benchlib.median(floors):.2f} s"
    )
    print(
        f"this process: RSS {med('rss_before'):.1f} MiB before, peak {med('rss_peak'):.1f} MiB "
        "during scan and settle",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
