"""``picsync scrub``: de-identified plaintext copies for a privacy officer to inspect.

Writes each cleaned file under its original relative path, ``manifest.json`` (input relative
path → output relative path, or null when refused) and ``report.json`` (per input: format and
what was removed, or the refusal reason). This is the only command that writes plaintext images,
on purpose and only where the operator points it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picsync.errors import RefusedError, describe_os_error
from picsync.intake import is_ignored_dir, is_ignored_name
from picsync.stages import ScrubStage


@dataclass(slots=True)
class InspectResult:
    cleaned: int = 0
    refused: int = 0


def _inputs(paths: Iterable[Path]) -> Iterator[tuple[Path, str]]:
    """(file, relative path for the output) for files named and files under named folders."""
    for path in paths:
        if path.is_dir():
            for folder, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not is_ignored_dir(d))
                for name in sorted(files):
                    if not is_ignored_name(name):
                        full = Path(folder) / name
                        yield full, full.relative_to(path).as_posix()
        else:
            yield path, path.name


def scrub_copies(
    paths: Iterable[Path], out: Path, advance: Callable[[int], None] = lambda total: None
) -> InspectResult:
    out.mkdir(parents=True, exist_ok=True)
    todo = list(_inputs(paths))
    stage = ScrubStage()
    manifest: dict[str, str | None] = {}
    report: dict[str, dict[str, Any]] = {}
    result = InspectResult()
    for source, rel in todo:
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".{target.name}.partial"
        try:
            with open(source, "rb") as src, open(tmp, "wb") as dst:
                outcome = stage(src, dst)
            tmp.replace(target)
        except RefusedError as exc:
            tmp.unlink(missing_ok=True)
            manifest[rel] = None
            report[rel] = {"refused": str(exc)}
            result.refused += 1
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            manifest[rel] = None
            report[rel] = {"refused": f"cannot read or write: {describe_os_error(exc)}"}
            result.refused += 1
        else:
            manifest[rel] = rel
            report[rel] = {
                "format": outcome.format.value,
                "removed": list(outcome.removed),
            }
            result.cleaned += 1
        advance(len(todo))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return result
