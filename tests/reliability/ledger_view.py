"""A read-only look at the daemon's ledger and audit log, for waiting and for the oracle.

Rows are matched to generated files by ``path_key`` (a keyed hash of the source path, the way
the daemon recognises a path without storing its name): the test reads the station's hash key
from the state directory, as an operator who can read the state directory could.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picsync.naming import path_key
from picsync.statedir import HASH_KEY_NAME, LEDGER_NAME

# Files in these states still have work ahead of them.
BUSY_FILES = ("new", "preparing", "delivered", "disposing")
BUSY_DELIVERIES = ("pending", "running")


@dataclass(frozen=True, slots=True)
class FileRow:
    id: int
    path_key: str
    state: str
    sha256: str | None
    last_error: str | None
    remote_id: str | None


class LedgerView:
    def __init__(self, state_dir: Path, source: str = "camera") -> None:
        self.state_dir = state_dir
        self.source = source
        self._key: bytes | None = None

    @property
    def path(self) -> Path:
        return self.state_dir / LEDGER_NAME

    def exists(self) -> bool:
        return self.path.exists()

    def _query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run one read; nothing before the daemon made the ledger (never create it here)."""
        if not self.path.exists():
            return []
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=60)
        try:
            conn.execute("PRAGMA busy_timeout=60000")
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def key_of(self, rel_path: str) -> str:
        if self._key is None:
            self._key = (self.state_dir / HASH_KEY_NAME).read_bytes()
        return path_key(self._key, self.source, rel_path)

    def files(self) -> list[FileRow]:
        rows = self._query(
            "SELECT id, path_key, state, sha256, last_error, remote_id FROM files ORDER BY id"
        )
        return [FileRow(*row) for row in rows]

    def file_counts(self) -> Counter[str]:
        rows = self._query("SELECT state, COUNT(*) FROM files GROUP BY 1")
        return Counter({s: n for s, n in rows})

    def delivery_counts(self) -> Counter[str]:
        rows = self._query("SELECT state, COUNT(*) FROM deliveries GROUP BY 1")
        return Counter({s: n for s, n in rows})

    def busy(self) -> int:
        """Files and deliveries that still have work ahead of them."""
        files, deliveries = self.file_counts(), self.delivery_counts()
        return sum(files[s] for s in BUSY_FILES) + sum(deliveries[s] for s in BUSY_DELIVERIES)

    def done_hashes(self) -> set[str]:
        return {r[0] for r in self._query("SELECT sha256 FROM files WHERE state='done'")}

    def delivered_file_ids(self) -> dict[int, list[str]]:
        """File id → destinations whose delivery is done."""
        found: dict[int, list[str]] = {}
        for file_id, dest in self._query(
            "SELECT file_id, destination FROM deliveries WHERE state='done'"
        ):
            found.setdefault(file_id, []).append(dest)
        return found

    def dead_deliveries(self) -> list[tuple[int, str, str]]:
        rows = self._query(
            "SELECT file_id, destination, last_error FROM deliveries WHERE state='dead'"
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def states_of(self, rel_path: str) -> list[str]:
        """States of every ledger row for this source path, oldest first."""
        rows = self._query(
            "SELECT state FROM files WHERE path_key=? ORDER BY id", self.key_of(rel_path)
        )
        return [r[0] for r in rows]

    def attempts_of(self, rel_path: str) -> int:
        rows = self._query("SELECT attempts FROM files WHERE path_key=?", self.key_of(rel_path))
        return max((r[0] for r in rows), default=0)

    def delivery_states_of(self, rel_path: str) -> list[str]:
        rows = self._query(
            "SELECT d.state FROM deliveries d JOIN files f ON f.id = d.file_id "
            "WHERE f.path_key=? ORDER BY d.id",
            self.key_of(rel_path),
        )
        return [r[0] for r in rows]

    def running_deliveries(self) -> list[str]:
        """Destinations of deliveries claimed and not finished (after a crash: cut short)."""
        rows = self._query("SELECT destination FROM deliveries WHERE state='running' ORDER BY id")
        return [r[0] for r in rows]

    def pauses(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self._query("SELECT destination, reason FROM pauses")]

    def integrity(self) -> str:
        rows = self._query("PRAGMA integrity_check")
        return "; ".join(str(r[0]) for r in rows)

    def spool_files(self) -> list[str]:
        spool = self.state_dir / "spool"
        return sorted(p.name for p in spool.iterdir()) if spool.exists() else []

    def audit(self) -> list[dict[str, Any]]:
        log = self.state_dir / "audit.jsonl"
        if not log.exists():
            return []
        with open(log, "rb") as handle:
            return [json.loads(line) for line in handle if line.endswith(b"\n")]
