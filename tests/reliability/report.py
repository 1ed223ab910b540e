"""Printing the figures: a block per scenario run, and one summary table per pytest session.

The block is printed as the test runs (visible with ``-s``, and in a failing test's output);
the summary table is printed by ``pytest_terminal_summary`` in every run, so the figures of the
spec's oracle table show even in CI's captured output. PICSYNC_RELIABILITY_REPORT=FILE also
appends each run's figures to FILE as a JSON line.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tests.reliability.oracle import Figures, percentile

COLUMNS = (
    "scenario",
    "dest",
    "dropped",
    "once",
    "dup",
    "lost",
    "quar.",
    "RSS MiB/fds/thr",
    "restart→upload p50/p95/max s",
    "kill→drained p50/max s",
    "latency p50/p95/max s",
    "requests total/retries/429 (RA honoured)",
    "drain s",
)


def _s(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _triple(values: list[float]) -> str:
    if not values:
        return "-"
    return "/".join(_s(percentile(values, q)) for q in (50, 95)) + f"/{_s(max(values))}"


def _wire(figures: Figures) -> str:
    parts = []
    for d in figures.destinations:
        w = d.wire
        if w is None:
            continue
        parts.append(
            f"{w.total}/{w.retries}/{w.status_429} "
            f"({w.retry_after_honoured}/{w.retry_after_given - w.retry_after_unfollowed})"
        )
    return "; ".join(parts) or "-"


def row(figures: Figures) -> list[str]:
    once = ",".join(str(d.exactly_once) for d in figures.destinations)
    kills = figures.kill_to_drained
    return [
        f"{figures.scenario} [{figures.mode}]",
        ",".join(d.name for d in figures.destinations),
        str(figures.dropped),
        once,
        str(figures.duplicates),
        str(figures.losses),
        str(sum(figures.quarantined.values())),
        f"{figures.max_rss_mib:.0f}/{figures.max_fds}/{figures.max_threads}",
        _triple(figures.restart_to_upload),
        "-" if not kills else f"{_s(percentile(kills, 50))}/{_s(max(kills))}",
        _triple(figures.latencies),
        _wire(figures),
        _s(figures.drain_s),
    ]


def render(figures: Figures) -> str:
    """The spec's oracle table for one run, one figure per line."""
    lines = [
        f"== {figures.scenario} [{figures.mode}, seed {figures.seed}, "
        f"replay with PICSYNC_TEST_SEED={figures.seed}]",
        f"  files dropped                   {figures.dropped}",
    ]
    for d in figures.destinations:
        writes = "n/a" if d.duplicate_writes is None else str(d.duplicate_writes)
        lines.append(
            f"  {d.name:<10} uploaded exactly once {d.exactly_once}; images {d.images}; "
            f"duplicate objects {d.duplicate_objects}, duplicate writes {writes}; "
            f"losses {len(d.losses)}; unexpected {d.unexpected}; undecryptable {d.undecryptable}"
        )
        w = d.wire
        if w is not None:
            lines.append(
                f"  {'':<10} requests {w.total} (writes {w.writes}, retries {w.retries}, "
                f"faulted {w.faults}); statuses {dict(sorted(w.by_status.items()))}; "
                f"Retry-After given {w.retry_after_given}, honoured {w.retry_after_honoured}, "
                f"not followed up {w.retry_after_unfollowed}; shortest wait/asked "
                f"{_s(w.shortest_wait_ratio, 2)}"
            )
    lines += [
        f"  losses                          {figures.losses}",
        f"  duplicates                      {figures.duplicates}",
        f"  quarantined                     {sum(figures.quarantined.values())} "
        f"{dict(figures.quarantined) or ''}",
        f"  vanished (audit)                {figures.vanished_events}",
        f"  dead deliveries                 {len(figures.dead)}",
        f"  max RSS / fds / threads         {figures.max_rss_mib:.0f} MiB / {figures.max_fds} / "
        f"{figures.max_threads}",
        f"  restarts after a kill           {figures.restarts}",
        f"  restart → first upload s        p50/p95/max {_triple(figures.restart_to_upload)}",
        f"  kill → drained s                p50/p95/max {_triple(figures.kill_to_drained)}",
        f"  latency close → commit s        p50/p95/max {_triple(figures.latencies)}",
        f"  drain s (first drop → drained)  {_s(figures.drain_s)}",
        f"  ledger integrity_check          {figures.integrity}",
        f"  audit verify                    {'ok' if figures.audit_ok else figures.audit_message}",
        f"  spool files left                {len(figures.spool_left)}",
    ]
    lines += [f"  {k:<31} {v}" for k, v in figures.notes.items()]
    return "\n".join(lines)


def as_json(figures: Figures) -> dict[str, Any]:
    return {
        "scenario": figures.scenario,
        "mode": figures.mode,
        "seed": figures.seed,
        "row": dict(zip(COLUMNS, row(figures), strict=True)),
        "quarantined": dict(figures.quarantined),
        "notes": figures.notes,
        "problems": figures.problems(),
    }


def save(figures: Figures) -> None:
    target = os.environ.get("PICSYNC_RELIABILITY_REPORT")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(as_json(figures)) + "\n")


def header() -> list[str]:
    """The first two lines of the Markdown table (docs/RELIABILITY.md)."""
    return ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]


def table_row(figures: Figures) -> str:
    return "| " + " | ".join(row(figures)) + " |"


def add_to_summary(figures: Figures) -> None:
    """Append this run's row for the summary table printed at the end (tests/conftest.py)."""
    target = os.environ.get("PICSYNC_RELIABILITY_ROWS")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(table_row(figures) + "\n")
