"""Benchmark: picsync's scrubber beside `exiftool -all=` on the same generated files (not a test).

Usage: python bench/bench_scrub.py [--per-format 20] [--size 1600x1200] [--runs 3]
                                   [--formats jpeg,png,tiff,heic,pdf] [--distinct 3]

It generates a set of JPEG, PNG, TIFF (Deflate strips), HEIC and PDF files with realistic FAKE
metadata (bench/samples.py: EXIF with GPS, MakerNote and thumbnail, XMP, IPTC, ICC, text chunks,
trailers; a planted PDF with a full-page JPEG scan) in a temporary directory (deleted afterwards),
warms the page cache and picsync's imports, then prints the median of ``--runs`` interleaved runs:

  - picsync: ``picsync.scrub.scrub(src, dst)`` in this process, file to file, over the set;
  - exiftool, one process: ``exiftool -all= -o OUT/ FILES...`` over the set (Perl starts once);
  - exiftool, per file: one ``exiftool -all= -o OUT/ FILE`` per file (Perl starts every time).

Both exiftool figures are fair anchors and are labelled: a watcher that calls exiftool per new
file pays the start-up every time; a batch job does not. Throughput is files/s and MB/s of input
(1 MB = 10^6 bytes). Rows per format use one exiftool process per format. exiftool does not do
what picsync does (it keeps what it cannot delete, e.g. TIFF IFD0 tags, and edits PDFs
reversibly); it is the anchor for speed, not for de-identification.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path

import benchlib
import samples

from picsync.scrub import scrub

MB = 1_000_000


def picsync_run(files: list[Path], out: Path) -> dict[str, float]:
    """Seconds per format for scrubbing every file of the set into ``out``."""
    seconds: dict[str, float] = defaultdict(float)
    for path in files:
        start = time.perf_counter()
        with open(path, "rb") as src, open(out / path.name, "wb") as dst:
            scrub(src, dst)
        seconds[fmt_of(path)] += time.perf_counter() - start
    return seconds


def exiftool(files: list[Path], out: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        ["exiftool", "-q", "-q", "-all=", "-o", f"{out}/", *map(str, files)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - start
    written = len(list(out.iterdir()))
    if written != len(files):
        raise RuntimeError(f"exiftool wrote {written} of {len(files)} files")
    return elapsed


def exiftool_per_file(files: list[Path], out: Path) -> dict[str, float]:
    seconds: dict[str, float] = defaultdict(float)
    for path in files:
        seconds[fmt_of(path)] += exiftool([path], out)
        clear(out)
    return seconds


def fmt_of(path: Path) -> str:
    return path.name.split("_", 1)[0]


def clear(folder: Path) -> None:
    for path in folder.iterdir():
        path.unlink()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--per-format", type=int, default=20, help="files of each format")
    parser.add_argument("--size", default="1600x1200", help="image size WxH (default 1600x1200)")
    parser.add_argument("--runs", type=int, default=3, help="runs; the median is printed")
    parser.add_argument("--formats", default=",".join(samples.FORMATS))
    parser.add_argument("--distinct", type=int, default=3, help="encoded files per format")
    parser.add_argument("--no-per-file", action="store_true", help="skip exiftool per file")
    args = parser.parse_args(argv)
    if shutil.which("exiftool") is None:
        print("exiftool is not installed (apt-get install libimage-exiftool-perl)", file=sys.stderr)
        return 2
    formats = tuple(args.formats.split(","))
    width, height = (int(v) for v in args.size.lower().split("x"))
    warnings.simplefilter("ignore")  # Pillow warns about the planted (fake) MPF segment

    benchlib.header("scrub: picsync.scrub.scrub vs exiftool -all=")
    with tempfile.TemporaryDirectory(prefix="bench_scrub_") as tmp:
        work = Path(tmp)
        print(f"# generating {args.per_format} files x {len(formats)} formats at {args.size}")
        files = samples.write_set(
            work / "in", formats, args.per_format, (width, height), distinct=args.distinct
        )
        out = work / "out"
        out.mkdir()
        sizes: dict[str, int] = defaultdict(int)
        counts: dict[str, int] = defaultdict(int)
        for path in files:
            sizes[fmt_of(path)] += len(path.read_bytes())  # also warms the page cache
            counts[fmt_of(path)] += 1
        by_format = {fmt: [p for p in files if fmt_of(p) == fmt] for fmt in formats}
        picsync_run(files, out)  # warm-up: imports and first-call costs
        clear(out)

        ours: dict[str, list[float]] = defaultdict(list)
        theirs_set: list[float] = []
        theirs_fmt: dict[str, list[float]] = defaultdict(list)
        theirs_each: dict[str, list[float]] = defaultdict(list)
        for run in range(args.runs):  # interleaved, so that noise hits every tool alike
            seconds = picsync_run(files, out)
            clear(out)
            for fmt, value in seconds.items():
                ours[fmt].append(value)
            ours["all"].append(sum(seconds.values()))
            theirs_set.append(exiftool(files, out))
            clear(out)
            for fmt, group in by_format.items():
                theirs_fmt[fmt].append(exiftool(group, out))
                clear(out)
            if not args.no_per_file:
                each = exiftool_per_file(files, out)
                for fmt, value in each.items():
                    theirs_each[fmt].append(value)
                theirs_each["all"].append(sum(each.values()))
            print(f"# run {run + 1}/{args.runs} done, load {benchlib.loadavg()}", flush=True)
        theirs_fmt["all"] = theirs_set
        sizes["all"] = sum(sizes[f] for f in formats)
        counts["all"] = len(files)

        print(
            f"median of {args.runs} runs; files/s (MB/s of input); "
            "ratio = picsync / exiftool in files/s"
        )
        print(
            f"{'format':>6} {'files':>5} {'MB':>6} | {'picsync':>16} | "
            f"{'exiftool 1 process':>18} {'ratio':>6} | {'exiftool per file':>17} {'ratio':>6}"
        )
        for fmt in (*formats, "all"):
            n, mb = counts[fmt], sizes[fmt] / MB
            p = benchlib.median(ours[fmt])
            s = benchlib.median(theirs_fmt[fmt])
            row = (
                f"{fmt:>6} {n:>5} {mb:6.1f} | {n / p:7.1f} ({mb / p:6.1f}) | "
                f"{n / s:8.1f} ({mb / s:6.1f}) {s / p:6.1f} | "
            )
            if theirs_each[fmt]:
                e = benchlib.median(theirs_each[fmt])
                row += f"{n / e:7.1f} ({mb / e:6.1f}) {e / p:6.1f}"
            print(row, flush=True)
    benchlib.footer()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
