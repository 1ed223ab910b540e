"""Benchmark: picsync's age encryptor beside the `age` CLI and raw ChaCha20-Poly1305 (not a test).

Usage: python bench/bench_seal.py [10M] [200M] [1G] [--runs 3] [--tmpdir DIR]
       (default: all three sizes; --tmpdir /dev/shm puts input and output on tmpfs)

For each size it creates a random file in a temporary directory (deleted afterwards), warms the
page cache, and prints the median of ``--runs`` runs (default 3) of:
  - picsync AgeEncryptor (encrypt_stream) in this process, MiB/s;
  - `age -r R -o OUT IN` timed around the whole subprocess (includes its start-up), MiB/s;
  - raw ChaCha20Poly1305 over 64 KiB readinto chunks with file I/O, in this process, MiB/s;
  - peak RSS of picsync encrypting in a child python process, of the age CLI, and of a child
    python that only imports picsync.crypto (the interpreter's own baseline); see peak_rss_mib
    for how (GNU time's %M, i.e. the child's ru_maxrss, as in specs/crypto.md).
The machine is shared and noisy: compare the ratio picsync/age measured in the same run. On a
disk, writeback of the previous run's gigabyte can land in the next tool's timing; tmpfs (as in
specs/crypto.md) takes the disk out and leaves CPU and memory bandwidth.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305  # noqa: E402

from picsync.crypto import encrypt_stream, generate_identity  # noqa: E402

MIB = 1024 * 1024
SIZES = {"10M": 10 * MIB, "200M": 200 * MIB, "1G": 1024 * MIB}
RUNS = 3
GNU_TIME = shutil.which("time", path="/usr/bin:/bin")  # the binary, not the shell keyword
CHILD_ENCRYPT = """
import sys
from picsync.crypto import encrypt_stream, parse_recipient
with open(sys.argv[1], "rb") as source, open(sys.argv[2], "wb") as destination:
    encrypt_stream(source, destination, [parse_recipient(sys.argv[3])])
"""
CHILD_BASELINE = "import picsync.crypto"


def make_random_file(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        remaining = size
        while remaining:
            piece = min(remaining, 4 * MIB)
            out.write(os.urandom(piece))
            remaining -= piece
    with open(path, "rb") as warm:  # page cache warm, as in specs/crypto.md
        while warm.read(4 * MIB):
            pass


def timed(action: Callable[[], None], output: Path) -> float:
    start = time.perf_counter()
    action()
    elapsed = time.perf_counter() - start
    output.unlink(missing_ok=True)
    return elapsed


def picsync_in_process(source: Path, output: Path, recipient_text: str) -> None:
    from picsync.crypto import parse_recipient

    with open(source, "rb") as src, open(output, "wb") as dst:
        encrypt_stream(src, dst, [parse_recipient(recipient_text)])


def raw_chacha(source: Path, output: Path) -> None:
    aead = ChaCha20Poly1305(os.urandom(32))
    buffer = memoryview(bytearray(64 * 1024))
    counter = 0
    with open(source, "rb") as src, open(output, "wb") as dst:
        while count := src.readinto(buffer):
            dst.write(aead.encrypt(counter.to_bytes(12, "big"), buffer[:count], None))
            counter += 1


def age_cli(source: Path, output: Path, recipient_text: str) -> None:
    subprocess.run(["age", "-r", recipient_text, "-o", str(output), str(source)], check=True)


def peak_rss_mib(command: list[str], workdir: Path) -> float:
    """Peak RSS of one run of ``command`` in MiB, as GNU time's %M reports it.

    Why not getrusage(RUSAGE_CHILDREN) here: subprocess spawns with vfork, and Linux charges a
    vforked child the parent's peak RSS when it execs, so every child would read at least this
    benchmark's own size (measured: 32.6 MiB for the age CLI). GNU time is tiny and forks, so its
    child starts from ~1 MiB; time reads the child's ru_maxrss from wait4, as specs/crypto.md did.
    Without GNU time we fall back to wait4 here, an upper bound that includes our own size.
    """
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if GNU_TIME is not None:
        report = workdir / "rss.txt"
        subprocess.run([GNU_TIME, "-f", "%M", "-o", str(report), *command], env=env, check=True)
        kib = int(report.read_text().split()[-1])
        report.unlink()
        return kib / 1024
    child = subprocess.Popen(command, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"benchmark child failed with exit code {child.returncode}")
    return usage.ru_maxrss / 1024


def bench_size(
    label: str, size: int, workdir: Path, recipient_text: str, runs: int = RUNS
) -> dict[str, float]:
    source = workdir / f"in_{label}.bin"
    output = workdir / "out.age"
    make_random_file(source, size)
    seconds: dict[str, list[float]] = {"picsync": [], "age": [], "raw": []}
    for _ in range(runs):  # interleaved, so that noise hits every tool alike
        seconds["picsync"].append(
            timed(lambda: picsync_in_process(source, output, recipient_text), output)
        )
        seconds["age"].append(timed(lambda: age_cli(source, output, recipient_text), output))
        seconds["raw"].append(timed(lambda: raw_chacha(source, output), output))
    result = {name: size / MIB / statistics.median(times) for name, times in seconds.items()}
    python = sys.executable
    child = [python, "-c", CHILD_ENCRYPT, str(source), str(output), recipient_text]
    result["picsync_rss"] = statistics.median(peak_rss_mib(child, workdir) for _ in range(runs))
    output.unlink(missing_ok=True)
    age_command = ["age", "-r", recipient_text, "-o", str(output), str(source)]
    result["age_rss"] = statistics.median(peak_rss_mib(age_command, workdir) for _ in range(runs))
    output.unlink(missing_ok=True)
    result["baseline_rss"] = peak_rss_mib([python, "-c", CHILD_BASELINE], workdir)
    source.unlink()
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("sizes", nargs="*", default=list(SIZES), help=f"any of {list(SIZES)}")
    parser.add_argument("--runs", type=int, default=RUNS, help="runs; the median is printed")
    parser.add_argument("--tmpdir", default=None, help="where the files go (default: $TMPDIR)")
    args = parser.parse_args(argv)
    labels = args.sizes
    unknown = [label for label in labels if label not in SIZES]
    if unknown:
        print(f"unknown size(s) {unknown}; choose from {list(SIZES)}", file=sys.stderr)
        return 2
    if shutil.which("age") is None:
        print("the age CLI is not installed (apt-get install age)", file=sys.stderr)
        return 2
    recipient_text = generate_identity().recipient.to_string()
    print("# load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    rss_source = "GNU time %M" if GNU_TIME else "wait4, an upper bound"
    print(
        f"median of {args.runs} runs; MiB/s; "
        f"peak RSS in MiB ({rss_source}; picsync includes python)"
    )
    header = (
        f"{'size':>6} {'picsync':>9} {'age CLI':>9} {'ratio':>6} {'raw AEAD':>9} "
        f"{'picsync RSS':>12} {'age RSS':>8} {'python RSS':>11}"
    )
    print(header)
    with tempfile.TemporaryDirectory(prefix="bench_seal_", dir=args.tmpdir) as tmp:
        for label in labels:
            row = bench_size(label, SIZES[label], Path(tmp), recipient_text, args.runs)
            print(
                f"{label:>6} {row['picsync']:9.0f} {row['age']:9.0f} "
                f"{row['picsync'] / row['age']:6.2f} {row['raw']:9.0f} "
                f"{row['picsync_rss']:12.1f} {row['age_rss']:8.1f} {row['baseline_rss']:11.1f}",
                flush=True,
            )
    print("# load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
