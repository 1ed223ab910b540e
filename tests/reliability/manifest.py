"""What the generator dropped: one row per source path, with every version written there.

The oracle's ground truth. A row says what must become of its file: ``DELIVER`` (the last
version uploaded exactly once to every destination), ``QUARANTINE`` (the test planted bad
input: refused with a reason; being delivered would be a failure too), ``VANISH`` (the test
deleted it: uploaded at most once, else gone without a trace or recorded as vanished) or
``EITHER`` (delivered or quarantined, e.g. a decompression bomb that is a valid image).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class Expect(StrEnum):
    DELIVER = "deliver"
    QUARANTINE = "quarantine"
    VANISH = "vanish"
    EITHER = "deliver or quarantine"


@dataclass
class Dropped:
    """One source path and what was written there, oldest version first."""

    rel_path: str
    expect: Expect
    versions: list[str] = field(default_factory=list)  # SHA-256 of each content
    sizes: list[int] = field(default_factory=list)
    closed_at: float = 0.0  # time.monotonic() when the last version was complete in the inbox
    aliases: list[str] = field(default_factory=list)  # earlier names (renamed during hashing)
    label: str = ""  # what kind of input it is (for quarantine tables)
    to: tuple[str, ...] = ()  # the destinations its route had; () = every destination

    @property
    def final(self) -> str:
        return self.versions[-1]

    def names(self) -> list[str]:
        return [self.rel_path, *self.aliases]

    def goes_to(self, destination: str) -> bool:
        return not self.to or destination in self.to


class Manifest:
    """Thread-safe list of dropped files; writing through it records the exact bytes."""

    def __init__(self, inbox: Path) -> None:
        self.inbox = inbox
        self._rows: dict[str, Dropped] = {}
        self._lock = threading.Lock()

    def drop(
        self,
        rel_path: str,
        data: bytes,
        *,
        expect: Expect = Expect.DELIVER,
        atomic: bool = True,
        label: str = "",
        to: tuple[str, ...] = (),
    ) -> Dropped:
        """Write ``data`` at ``rel_path`` in the inbox (atomically: beside it, then renamed in;
        else in place, as a camera writing over a share would) and record it."""
        target = self.inbox / rel_path
        target.parent.mkdir(parents=True, exist_ok=True)
        if atomic:
            staging = target.with_name(f".{target.name}.incoming")
            staging.write_bytes(data)
            staging.rename(target)
        else:
            with open(target, "wb") as handle:
                handle.write(data)
        return self.record(rel_path, data, expect=expect, label=label, to=to)

    def record(
        self,
        rel_path: str,
        data: bytes,
        *,
        expect: Expect = Expect.DELIVER,
        label: str = "",
        to: tuple[str, ...] = (),
    ) -> Dropped:
        """Record a version that the test wrote at ``rel_path`` by other means."""
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            row = self._rows.get(rel_path)
            if row is None:
                row = self._rows[rel_path] = Dropped(rel_path, expect, label=label, to=to)
            row.versions.append(digest)
            row.sizes.append(len(data))
            row.closed_at = time.monotonic()
            row.expect = expect
        return row

    def rename(self, old: str, new: str) -> None:
        """The test renamed a dropped file: the row keeps its content under its new name."""
        os.rename(self.inbox / old, self.inbox / new)
        with self._lock:
            row = self._rows.pop(old)
            row.aliases.append(old)
            row.rel_path = new
            self._rows[new] = row

    def expect(self, rel_path: str, expect: Expect) -> None:
        with self._lock:
            self._rows[rel_path].expect = expect

    def rows(self) -> list[Dropped]:
        with self._lock:
            return list(self._rows.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)

    def by_content(self) -> dict[str, Dropped]:
        """Every version's hash → its row (the generator makes every content unique)."""
        found: dict[str, Dropped] = {}
        for row in self.rows():
            for digest in row.versions:
                assert digest not in found, f"the generator wrote the same bytes twice ({digest})"
                found[digest] = row
        return found
