"""The chain-of-custody log: an append-only JSON-lines file in the state directory.

Every record carries the SHA-256 of the record before it, so editing, deleting or reordering
any line breaks the chain; the head (the last record's number and hash) is kept in a second
file, so cutting or editing the last lines is noticed too. Each append is fsynced before
picsync goes on, and an event is written *before* the ledger commits the step it describes:
after a crash a step may appear twice, never not at all.

The head is rewritten after every append but not fsynced: one fsync per append instead of
two (the log's is the one that keeps the promise). So after a power cut the head may lag the
log by the last few records; ``verify`` accepts a log that runs on past a head that lies on
the chain, and the next append brings the head up to date. Cutting or editing records the
head covers is still found.

No PHI: records hold file ids, random remote ids and paths, hashes, sizes, regions and
reasons; never a source path, file name or patient identifier.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
LOG_NAME = "audit.jsonl"
HEAD_NAME = "audit.head"
_HEAD_SIZE = 96  # "<seq> <64 hex>\n" padded: rewritten in place, one small write


def record_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainProblem:
    line: int  # 1-based; 0 when the problem is with the head file
    reason: str


class AuditLog:
    """Appends hash-chained records; safe across threads and processes (flock)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOG_NAME
        self.head_path = folder / HEAD_NAME
        self._lock = threading.Lock()
        self._head_synced = False
        for path in (self.path, self.head_path):
            if not path.exists():
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))

    def append(self, event: str, **details: Any) -> None:
        self.append_many([(event, details)])

    def append_many(self, events: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Append records in order with one fsync: the steps of one stage that the ledger
        commits together (discovered, scrubbed, sealed)."""
        with self._lock, open(self.path, "r+b") as log:
            fcntl.flock(log.fileno(), fcntl.LOCK_EX)
            seq, prev = self._tail(log)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            mono = round(time.monotonic(), 3)
            lines = []
            for event, details in events:
                seq += 1
                record = {
                    "seq": seq,
                    "time": stamp,
                    "mono": mono,
                    "event": event,
                    **details,
                    "prev": prev,
                }
                line = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
                lines.append(line + b"\n")
                prev = record_hash(line)
            log.seek(0, os.SEEK_END)
            log.write(b"".join(lines))
            log.flush()
            os.fsync(log.fileno())
            self._write_head(seq, prev)

    def _tail(self, log: Any) -> tuple[int, str]:
        """The last complete record's number and hash; a torn last line (a crash mid-write)
        is cut off and the cut is itself recorded, so the chain stays verifiable."""
        size = log.seek(0, os.SEEK_END)
        if size == 0:
            return 0, GENESIS
        start = max(0, size - 65536)
        log.seek(start)
        tail = log.read()
        if not tail.endswith(b"\n"):
            cut = tail.rfind(b"\n")
            keep = start + cut + 1 if cut >= 0 else 0
            log.truncate(keep)
            log.flush()
            os.fsync(log.fileno())
            seq, prev = self._tail(log) if keep else (0, GENESIS)
            return self._torn(log, seq, prev, size - keep)
        lines = tail[:-1].split(b"\n")
        last = lines[-1]
        return int(json.loads(last)["seq"]), record_hash(last)

    def _torn(self, log: Any, seq: int, prev: str, dropped: int) -> tuple[int, str]:
        record = {"seq": seq + 1, "event": "torn_tail_removed", "bytes": dropped, "prev": prev}
        line = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
        log.seek(0, os.SEEK_END)
        log.write(line + b"\n")
        return seq + 1, record_hash(line)

    def _write_head(self, seq: int, digest: str) -> None:
        text = f"{seq} {digest}\n".encode().ljust(_HEAD_SIZE, b" ")
        fd = os.open(self.head_path, os.O_WRONLY)
        try:
            os.pwrite(fd, text, 0)
            if not self._head_synced:
                # Once per process, so that a head exists durably as soon as a record does
                # (an empty head beside records is a problem); after that, see the docstring.
                os.fsync(fd)
                self._head_synced = True
        finally:
            os.close(fd)

    # ---- reading ---------------------------------------------------------------------------

    def records(self) -> Iterator[dict[str, Any]]:
        with open(self.path, "rb") as log:
            for raw in log:
                yield json.loads(raw)

    def verify(self) -> ChainProblem | None:
        """The first break in the chain, or None when every record links to the one before
        and the head names a record of it (the last one, or an earlier one after a crash)."""
        head = self.head_path.read_bytes().strip() if self.head_path.exists() else b""
        try:
            raw_seq, head_hash = head.decode().split() if head else ("0", GENESIS)
            head_seq = int(raw_seq)
        except ValueError:
            return ChainProblem(0, "the head file is missing or damaged")
        if not head and self.path.exists() and self.path.stat().st_size > 0:
            return ChainProblem(0, "the head file is missing or damaged")
        prev = GENESIS
        seq = 0
        named = GENESIS  # the hash of record number head_seq, once the walk has passed it
        with open(self.path, "rb") as log:
            for number, raw in enumerate(log, 1):
                if not raw.endswith(b"\n"):
                    return ChainProblem(number, "record is cut short (no line end)")
                line = raw[:-1]
                try:
                    record = json.loads(line)
                except ValueError:
                    return ChainProblem(number, "record is not valid JSON")
                if not isinstance(record, dict) or record.get("prev") != prev:
                    return ChainProblem(
                        number,
                        "record does not link to the one before it (edited, removed or moved)",
                    )
                if record.get("seq") != seq + 1:
                    return ChainProblem(
                        number, f"record number {record.get('seq')} where {seq + 1} was due"
                    )
                seq += 1
                prev = record_hash(line)
                if seq == head_seq:
                    named = prev
        if head_seq > seq:
            return ChainProblem(
                0,
                f"the log ends at record {seq} but the head says {head_seq}: "
                "the last records were cut off",
            )
        if named != head_hash:
            return ChainProblem(0, f"record {head_seq} is not the one the head names: changed")
        return None

    def custody(self, ident: str) -> list[dict[str, Any]]:
        """Every record about one file, by ledger file id or by remote id."""
        return [
            r for r in self.records() if str(r.get("file")) == ident or r.get("remote_id") == ident
        ]
