"""Benchmark: one 2 GiB file through the whole pipeline (daemon, folder destination, sealed): the
daemon's peak RSS, and its time beside `cp` + `age` of the same file (not a test).

Usage: python bench/bench_bigfile.py [--gib 2.0] [--runs 1] [--rows-per-strip 16]

What passes the scrubber at 2 GiB: formats whose image data picsync copies without decoding
and streams in 1 MiB pieces. An uncompressed RGB TIFF does (picsync/scrub/tiff_build.py allows
2^31 pixels per page and 2^20 strips; classic TIFF output must stay under 4 GiB), as do PNG
(each IDAT is inflated to verify it, output discarded) and JPEG scan data. The file here is a
classic little-endian TIFF written by hand with struct: one page, 32768 pixels wide, 8-bit RGB,
uncompressed strips, with FAKE identifying tags (ImageDescription, Make, Model, Artist,
Software, DateTime) for the scrubber to drop. The pixel data is a sparse hole (zeros): cheap to
make, read through the page cache like any file; the spool and the outbox get 2 GiB of real
ciphertext.

The daemon (`python -m picsync run -c FILE`) starts on an empty watched folder; the file is
written there under a temporary name (ignored by picsync) and renamed into place, then the run
lasts until the ledger says it was delivered (a renamed-in file gets the 10 s quiet time for
files whose writer was not seen closing them; the time from the ledger recording it to the
delivery is reported too). Peak RSS is VmHWM from /proc/<pid>/status read
just before the daemon is stopped, beside the VmHWM of an idle daemon (started, nothing to do).
Anchor for the time: `cp FILE OUT; age -r R -o OUT.age FILE; sync` (one copy, one encryption;
picsync also hashes, scrubs, fsyncs and verifies).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib
from benchlib import Clinic, Daemon

WIDTH = 32768
PLANTED = {
    270: "Jane Testpatient MRN-0042-FAKE whole-body scan",
    271: "FakeScan Optics Ltd",
    272: "FS-9000 Clinic Edition",
    305: "FakeScan Capture 9.1",
    306: "2031:02:03 04:05:06",
    315: "Dr Fakeman Clinician",
}


def write_tiff(path: Path, target_bytes: int, rows_per_strip: int) -> int:
    """A classic TIFF of about ``target_bytes`` whose pixel data is a sparse hole; its size."""
    row = WIDTH * 3
    height = max(1, target_bytes // row)
    strips = -(-height // rows_per_strip)
    counts = [min(rows_per_strip, height - i * rows_per_strip) * row for i in range(strips)]
    entry_count = 12 + len(PLANTED)
    value_area = 8 + 2 + 12 * entry_count + 4  # header, then the one directory, then values
    values = bytearray()

    def later(data: bytes) -> int:
        """Store ``data`` after the directory (on an even offset); its file offset."""
        offset = value_area + len(values)
        values.extend(data + b"\x00" * (len(data) % 2))
        return offset

    bits_at = later(struct.pack("<3H", 8, 8, 8))
    resolution_at = later(struct.pack("<II", 1200, 1))
    texts = {tag: later(text.encode() + b"\x00") for tag, text in PLANTED.items()}
    counts_at = later(struct.pack(f"<{strips}I", *counts))
    offsets_at = later(bytes(4 * strips))
    data_start = value_area + len(values)
    data_start += -data_start % 16
    offsets = [data_start]
    for size in counts[:-1]:
        offsets.append(offsets[-1] + size)
    at = offsets_at - value_area
    values[at : at + 4 * strips] = struct.pack(f"<{strips}I", *offsets)

    def entry(tag: int, type_: int, count: int, field: bytes) -> tuple[int, bytes]:
        return tag, struct.pack("<HHI", tag, type_, count) + field.ljust(4, b"\x00")

    def pointer(tag: int, type_: int, count: int, offset: int) -> tuple[int, bytes]:
        return entry(tag, type_, count, struct.pack("<I", offset))

    entries = [
        entry(256, 4, 1, struct.pack("<I", WIDTH)),
        entry(257, 4, 1, struct.pack("<I", height)),
        pointer(258, 3, 3, bits_at),
        entry(259, 3, 1, struct.pack("<H", 1)),  # no compression
        entry(262, 3, 1, struct.pack("<H", 2)),  # RGB
        *(pointer(tag, 2, len(PLANTED[tag]) + 1, at) for tag, at in texts.items()),
        pointer(273, 4, strips, offsets_at),
        entry(277, 3, 1, struct.pack("<H", 3)),
        entry(278, 4, 1, struct.pack("<I", rows_per_strip)),
        pointer(279, 4, strips, counts_at),
        pointer(282, 5, 1, resolution_at),
        pointer(283, 5, 1, resolution_at),
        entry(296, 3, 1, struct.pack("<H", 2)),  # inches
    ]
    assert len(entries) == entry_count
    ifd = struct.pack("<H", entry_count) + b"".join(raw for _, raw in sorted(entries)) + bytes(4)
    total = data_start + sum(counts)
    with open(path, "wb") as out:
        out.write(b"II*\x00" + struct.pack("<I", 8) + ifd + values)
        out.truncate(total)  # the pixel data: a sparse hole
    return total


def idle_rss(work: Path) -> float:
    clinic = Clinic(work)
    (work / "outbox").mkdir(parents=True)
    clinic.write_config({"outbox": {"type": "folder", "path": str(work / "outbox")}})
    with Daemon(clinic) as daemon:
        benchlib.wait_for_ready(daemon)
        time.sleep(3)
        peak = benchlib.vm_hwm_mib(daemon.pid)
    shutil.rmtree(work)
    return peak


def through_daemon(work: Path, source: Path) -> dict[str, float]:
    clinic = Clinic(work)
    outbox = work / "outbox"
    outbox.mkdir(parents=True)
    clinic.write_config({"outbox": {"type": "folder", "path": str(outbox)}})
    with Daemon(clinic) as daemon:
        benchlib.wait_for_ready(daemon)
        time.sleep(1)
        hidden = clinic.inbox / ".scan.tif.part"
        shutil.copyfile(source, hidden)  # sparse in, dense out would be slow: copy first
        start = time.monotonic()
        hidden.rename(clinic.inbox / "scan.tif")
        sampler = benchlib.Sampler(daemon.pid)
        done = benchlib.poll(
            lambda: clinic.done_files() >= 1, 1800, "delivery", daemon, 0.2, sampler
        )
        sampler.sample()
        states = clinic.file_states()
    if states.get("done", 0) + states.get("delivered", 0) != 1:
        raise RuntimeError(f"the file did not arrive: {states}; log:\n{daemon.log()[-2000:]}")
    with sqlite3.connect(clinic.ledger_path) as conn:
        recorded, delivered = conn.execute(
            "SELECT f.discovered_at, d.delivered_at FROM files f JOIN deliveries d "
            "ON d.file_id = f.id"
        ).fetchone()
    shutil.rmtree(work)
    return {"seconds": done - start, "work": delivered - recorded, "rss": sampler.peak}


def anchor(work: Path, source: Path, recipient: str) -> float:
    work.mkdir(parents=True)
    start = time.monotonic()
    subprocess.run(["cp", str(source), str(work / "copy.tif")], check=True)
    subprocess.run(["age", "-r", recipient, "-o", str(work / "copy.age"), str(source)], check=True)
    subprocess.run(["sync"], check=True)
    elapsed = time.monotonic() - start
    shutil.rmtree(work)
    return elapsed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--gib", type=float, default=2.0, help="size of the TIFF in GiB")
    parser.add_argument("--runs", type=int, default=1, help="runs (median printed)")
    parser.add_argument("--rows-per-strip", type=int, default=16)
    args = parser.parse_args(argv)
    benchlib.header(f"one {args.gib:g} GiB TIFF through the daemon (folder, sealed)")
    with tempfile.TemporaryDirectory(prefix="bench_bigfile_") as tmp:
        work = Path(tmp)
        source = work / "scan.tif"
        size = write_tiff(source, int(args.gib * benchlib.GIB), args.rows_per_strip)
        print(f"# TIFF of {size / benchlib.GIB:.3f} GiB ({size} bytes)", flush=True)
        idle = idle_rss(work / "idle")
        rows = []
        anchors = []
        recipient = Clinic(work).identity.recipient.to_string()
        for run in range(args.runs):
            rows.append(through_daemon(work / f"run{run}", source))
            anchors.append(anchor(work / f"anchor{run}", source, recipient))
            print(f"# run {run + 1}/{args.runs} done, load {benchlib.loadavg()}", flush=True)
    seconds = benchlib.median(r["seconds"] for r in rows)
    work_s = benchlib.median(r["work"] for r in rows)
    rss = benchlib.median(r["rss"] for r in rows)
    cp_age = benchlib.median(anchors)
    mib = size / benchlib.MIB
    print(
        f"picsync: delivered {seconds:.1f} s after the rename, of which {work_s:.1f} s from "
        f"being recorded to delivered ({mib / work_s:.0f} MiB/s; the rest is the quiet time "
        f"of a file whose writer was not seen closing it); "
        f"daemon peak RSS (VmHWM) {rss:.1f} MiB; idle daemon {idle:.1f} MiB"
    )
    print(f"anchor cp + age + sync: {cp_age:.1f} s ({mib / cp_age:.0f} MiB/s)", flush=True)
    benchlib.footer()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
