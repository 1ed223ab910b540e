"""The oracle: from what was dropped, what each destination holds, the request logs, the ledger
and the audit log, compute the spec's figures (specs/reliability.md §3) and judge the run.

Every remote object is decrypted with the site's office identity. An image counts for a dropped
file when its plaintext SHA-256 equals a version the generator wrote there; the sealed manifest
beside it must name the same content (``scrubbed_sha256``) and the file's source hash. Then:

- losses: a file that had to arrive and is missing at some destination (must be 0);
- duplicates: extra objects with the same plaintext, plus writes that stored bytes at a path
  that already held them (must be 0);
- unexpected objects: plaintext that matches no generated version: mixed or partial content;
- quarantined with reasons (only where the test planted bad input), vanished, dead deliveries;
- the ledger passes ``PRAGMA integrity_check``, the spool is empty once drained, no temporary
  file is left at a destination, and ``picsync audit verify`` accepts the chain of custody.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from picsync.crypto import decrypt_stream
from tests.reliability.manifest import Dropped, Expect, Manifest
from tests.reliability.remotes import Remote, is_manifest
from tests.reliability.rig import Rig
from tests.reliability.wire import WireFigures, analyse


@dataclass
class DestinationFigures:
    name: str
    kind: str
    images: int = 0
    exactly_once: int = 0
    duplicate_objects: int = 0
    duplicate_writes: int | None = None
    losses: list[str] = field(default_factory=list)
    unexpected: int = 0
    undecryptable: int = 0
    manifest_problems: list[str] = field(default_factory=list)
    wrongly_delivered: list[str] = field(default_factory=list)
    misrouted: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    wire: WireFigures | None = None


@dataclass
class Figures:
    """Everything the spec's oracle table asks for, for one scenario run."""

    scenario: str
    mode: str
    seed: int | None
    dropped: int = 0
    destinations: list[DestinationFigures] = field(default_factory=list)
    quarantined: Counter[str] = field(default_factory=Counter)
    wrongly_quarantined: list[str] = field(default_factory=list)
    vanished_events: int = 0
    dead: list[str] = field(default_factory=list)
    max_rss_mib: float = 0.0
    max_fds: int = 0
    max_threads: int = 0
    restarts: int = 0
    restart_to_upload: list[float] = field(default_factory=list)
    kill_to_drained: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    drain_s: float | None = None
    integrity: str = ""
    audit_ok: bool = False
    audit_message: str = ""
    spool_left: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def losses(self) -> int:
        return len({p for d in self.destinations for p in d.losses})

    @property
    def duplicates(self) -> int:
        return sum(d.duplicate_objects + (d.duplicate_writes or 0) for d in self.destinations)

    def problems(self) -> list[str]:
        """Every broken invariant, in words; empty for a clean run."""
        found = []
        for d in self.destinations:
            where = f"{d.name}:"
            if d.losses:
                found.append(f"{where} {len(d.losses)} lost, e.g. {d.losses[:3]}")
            if d.duplicate_objects:
                found.append(f"{where} {d.duplicate_objects} duplicate objects")
            if d.duplicate_writes:
                found.append(f"{where} {d.duplicate_writes} writes stored bytes twice")
            if d.unexpected:
                found.append(f"{where} {d.unexpected} objects match no generated content")
            if d.undecryptable:
                found.append(f"{where} {d.undecryptable} objects do not decrypt")
            if d.manifest_problems:
                found.append(f"{where} manifests: {d.manifest_problems[:3]}")
            if d.wrongly_delivered:
                found.append(f"{where} bad input delivered: {d.wrongly_delivered[:3]}")
            if d.misrouted:
                found.append(f"{where} files its route did not name: {d.misrouted[:3]}")
            if d.leftovers:
                found.append(f"{where} temporary files left: {d.leftovers[:3]}")
        if self.wrongly_quarantined:
            found.append(f"good files quarantined: {self.wrongly_quarantined[:3]}")
        if self.dead:
            found.append(f"dead deliveries: {self.dead[:3]}")
        if self.integrity != "ok":
            found.append(f"ledger integrity_check: {self.integrity}")
        if not self.audit_ok:
            found.append(f"audit verify failed: {self.audit_message}")
        if self.spool_left:
            found.append(f"spool files left after drain: {self.spool_left[:3]}")
        return found


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _decrypt(data: bytes, rig: Rig) -> bytes | None:
    sink = io.BytesIO()
    try:
        decrypt_stream(io.BytesIO(data), sink, [rig.site.identity])
    except Exception:
        return None
    return sink.getvalue()


def judge_destination(remote: Remote, manifest: Manifest, rig: Rig) -> DestinationFigures:
    figures = DestinationFigures(remote.name, remote.kind)
    by_content = manifest.by_content()
    objects = remote.objects()
    found: Counter[str] = Counter()  # plaintext hash → images holding it
    images: dict[str, str] = {}  # image path → plaintext hash
    for path, data in objects.items():
        if is_manifest(path):
            continue
        plain = _decrypt(data, rig)
        if plain is None:
            figures.undecryptable += 1
            continue
        digest = hashlib.sha256(plain).hexdigest()
        images[path] = digest
        found[digest] += 1
        if digest not in by_content:
            figures.unexpected += 1
    figures.images = len(images)
    figures.manifest_problems = _check_manifests(objects, images, by_content, rig)
    figures.duplicate_objects = sum(n - 1 for n in found.values() if n > 1)
    writes = remote.writes()
    if writes is not None:
        figures.duplicate_writes = sum(n - 1 for n in writes.values() if n > 1)
    for row in manifest.rows():
        arrived = [found[v] for v in row.versions]
        final = found[row.final]
        if not row.goes_to(remote.name):
            if sum(arrived):
                figures.misrouted.append(row.rel_path)
            continue
        if row.expect == Expect.QUARANTINE:
            if sum(arrived):
                figures.wrongly_delivered.append(row.rel_path)
            continue
        if final == 1 and all(n <= 1 for n in arrived):
            figures.exactly_once += 1
        if row.expect == Expect.DELIVER and final == 0:
            figures.losses.append(row.rel_path)
    figures.leftovers = remote.leftovers()
    if remote.kind != "folder":
        figures.wire = analyse(remote.requests())
    return figures


def _check_manifests(
    objects: Mapping[str, bytes], images: dict[str, str], by_content: dict[str, Dropped], rig: Rig
) -> list[str]:
    """Each image has its sealed manifest beside it, naming the same content and source."""
    problems = []
    manifests = {p: d for p, d in objects.items() if is_manifest(p)}
    stems = {p.rsplit(".", 2)[0]: p for p in images}
    for path, data in manifests.items():
        stem = path[: -len(".json.age")]
        image = stems.get(stem)
        plain = _decrypt(data, rig)
        if plain is None:
            problems.append(f"manifest does not decrypt: {path}")
            continue
        document = json.loads(plain)
        if image is None:
            problems.append(f"manifest without its image: {path}")
            continue
        digest = images[image]
        if document.get("scrubbed_sha256") != digest:
            problems.append(f"manifest names other content than its image: {path}")
        row = by_content.get(digest)
        if row is not None and document.get("original_path") not in row.names():
            problems.append(f"manifest names another source path: {path}")
    if len(manifests) != len(images):
        problems.append(f"{len(images)} images but {len(manifests)} manifests")
    return problems


def judge(rig: Rig, manifest: Manifest, scenario: str, mode: str, seed: int | None) -> Figures:
    """Compute every figure of a finished run (the daemon stopped, the queue drained)."""
    figures = Figures(scenario, mode, seed, dropped=len(manifest))
    figures.destinations = [judge_destination(r, manifest, rig) for r in rig.remotes]
    ledger = rig.ledger
    rows = ledger.files() if ledger.exists() else []
    keys: dict[str, Dropped] = {}
    for dropped in manifest.rows():
        for name in dropped.names():
            keys[ledger.key_of(name)] = dropped
    quarantined_keys = set()
    for row in rows:
        if row.state == "quarantined":
            figures.quarantined[row.last_error or "no reason"] += 1
            quarantined_keys.add(row.path_key)
    for key in quarantined_keys:
        dropped = keys.get(key)
        if dropped is not None and dropped.expect in (Expect.DELIVER, Expect.VANISH):
            figures.wrongly_quarantined.append(dropped.rel_path)
    figures.dead = [f"{d}: {e}" for _, d, e in ledger.dead_deliveries()] if rows else []
    records = ledger.audit()
    figures.vanished_events = sum(1 for r in records if r.get("event") == "vanished")
    _latencies(figures, rows, keys, records)
    _recovery(figures, rig, records)
    samples = rig.monitor
    figures.max_rss_mib, figures.max_fds = samples.max_rss_mib, samples.max_fds
    figures.max_threads = samples.max_threads
    if rig.drained_at and manifest.rows():
        first = min(r.closed_at for r in manifest.rows())
        figures.drain_s = rig.drained_at[-1] - first
    figures.integrity = ledger.integrity() if ledger.exists() else "no ledger"
    figures.spool_left = ledger.spool_files()
    figures.audit_ok, figures.audit_message = rig.audit_verify()
    return figures


def _latencies(
    figures: Figures, rows: list[Any], keys: dict[str, Dropped], records: list[dict[str, Any]]
) -> None:
    """File closed in the inbox → its delivery recorded, for the version that was delivered."""
    uploaded: dict[int, float] = {}
    for record in records:
        if record.get("event") == "uploaded" and "mono" in record:
            uploaded.setdefault(int(record["file"]), float(record["mono"]))
    for row in rows:
        dropped = keys.get(row.path_key)
        if dropped is None or row.sha256 != dropped.final or row.id not in uploaded:
            continue
        figures.latencies.append(max(0.0, uploaded[row.id] - dropped.closed_at))


def _recovery(figures: Figures, rig: Rig, records: list[dict[str, Any]]) -> None:
    """Per restart after a kill: restart → first upload, and kill → drained (when it drained
    before the next kill). A life started only to die at a crash point is not a recovery."""
    uploads = sorted(
        float(r["mono"]) for r in records if r.get("event") == "uploaded" and "mono" in r
    )
    lives = rig.lives
    for before, life in itertools.pairwise(lives):
        if before.ending == "stopped" or before.ended_at is None or life.crashpoint:
            continue
        figures.restarts += 1
        end = life.ended_at if life.ended_at is not None else float("inf")
        first = next((t for t in uploads if life.started_at <= t <= end), None)
        if first is not None:
            figures.restart_to_upload.append(first - life.started_at)
        drained = next((t for t in rig.drained_at if life.started_at <= t <= end), None)
        if drained is not None:
            figures.kill_to_drained.append(drained - before.ended_at)


def assert_clean(figures: Figures) -> None:
    problems = figures.problems()
    assert not problems, f"{figures.scenario} (seed {figures.seed}):\n  " + "\n  ".join(problems)
