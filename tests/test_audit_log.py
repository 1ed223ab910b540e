"""The chain-of-custody log on its own: appends, the head, and what ``verify`` finds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from picsync.audit import HEAD_NAME, LOG_NAME, AuditLog


def filled(folder: Path, count: int = 6) -> AuditLog:
    audit = AuditLog(folder)
    for n in range(count):
        audit.append("uploaded", file=n, size=100 + n)
    return audit


def test_append_many_links_every_record_and_keeps_the_order(tmp_path: Path) -> None:
    audit = filled(tmp_path, 2)
    audit.append_many([("discovered", {"file": 9}), ("scrubbed", {"file": 9}), ("sealed", {})])
    records = list(audit.records())
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    assert [r["event"] for r in records[2:]] == ["discovered", "scrubbed", "sealed"]
    assert audit.verify() is None
    head_seq = (tmp_path / HEAD_NAME).read_text().split()[0]
    assert head_seq == "5"


def test_a_head_left_behind_by_a_crash_still_verifies_and_catches_up(tmp_path: Path) -> None:
    audit = filled(tmp_path, 3)
    behind = (tmp_path / HEAD_NAME).read_bytes()
    audit.append("disposed", file=2)
    audit.append("disposed", file=3)
    # A power cut after the log's fsync and before the (unsynced) head reached the disk.
    (tmp_path / HEAD_NAME).write_bytes(behind)
    assert AuditLog(tmp_path).verify() is None
    AuditLog(tmp_path).append("disposed", file=4)
    assert (tmp_path / HEAD_NAME).read_text().split()[0] == "6"
    assert AuditLog(tmp_path).verify() is None


def rewrite(folder: Path, lines: list[str]) -> None:
    (folder / LOG_NAME).write_text("".join(lines))


def lines_of(folder: Path) -> list[str]:
    return (folder / LOG_NAME).read_text().splitlines(keepends=True)


def test_cutting_records_the_head_covers_is_found(tmp_path: Path) -> None:
    audit = filled(tmp_path)
    rewrite(tmp_path, lines_of(tmp_path)[:-2])
    problem = audit.verify()
    assert problem is not None and problem.line == 0
    assert "head says 6" in problem.reason


def test_editing_the_record_the_head_names_is_found(tmp_path: Path) -> None:
    audit = filled(tmp_path)
    lines = lines_of(tmp_path)
    last = json.loads(lines[-1])
    last["size"] = 1
    rewrite(tmp_path, [*lines[:-1], json.dumps(last, sort_keys=True, separators=(",", ":")) + "\n"])
    problem = audit.verify()
    assert problem is not None and "record 6" in problem.reason


@pytest.mark.parametrize("head", [b"", b"garbage", b"x y z"])
def test_a_missing_or_damaged_head_beside_records_is_found(tmp_path: Path, head: bytes) -> None:
    audit = filled(tmp_path, 2)
    (tmp_path / HEAD_NAME).write_bytes(head)
    problem = audit.verify()
    assert problem is not None and "head file is missing or damaged" in problem.reason


def test_an_empty_log_with_an_empty_head_is_fine(tmp_path: Path) -> None:
    assert AuditLog(tmp_path).verify() is None


def test_a_middle_record_edited_is_found_at_its_line(tmp_path: Path) -> None:
    audit = filled(tmp_path)
    lines = lines_of(tmp_path)
    record = json.loads(lines[2])
    record["size"] = 7
    lines[2] = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
    rewrite(tmp_path, lines)
    problem = audit.verify()
    assert problem is not None and problem.line == 4  # the next record no longer links
