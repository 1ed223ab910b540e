"""``picsync add``: queue files that are already in a source folder, with a progress bar."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.progress import Progress

from picsync.completeness import check_complete
from picsync.config import Config
from picsync.intake import Selection, is_ignored_name
from picsync.ledger import Discovery, Ledger
from picsync.naming import path_key
from picsync.sourcefile import signature_of
from picsync.statedir import StateDir, load_or_create_hash_key

_BATCH = 500


@dataclass(slots=True)
class BackfillResult:
    added: int = 0
    known: int = 0
    outside: int = 0
    incomplete: int = 0


def backfill(config: Config, ledger: Ledger, paths: Iterable[Path]) -> BackfillResult:
    settings = config.settings
    if config.hash_key is not None:
        key = config.hash_key.get_secret_value().encode()
    else:
        key = load_or_create_hash_key(StateDir(settings.state_dir))
    roots = [
        (name, src.path.resolve(), Selection(src.include, src.exclude))
        for name, src in settings.sources.items()
    ]
    candidates = list(_expand(paths))
    result = BackfillResult()
    batch: list[Discovery] = []
    with Progress(transient=True) as progress:
        task = progress.add_task("checking files", total=len(candidates))
        for path, explicit in candidates:
            progress.advance(task)
            found = _source_of(path, roots)
            if found is None:
                result.outside += 1
                continue
            name, rel, selection = found
            if not explicit and not selection.takes(rel):
                continue
            try:
                info = os.lstat(path)
                if not stat.S_ISREG(info.st_mode):
                    continue
                with open(path, "rb") as handle:
                    reason = check_complete(handle, info.st_size)
            except OSError:
                result.incomplete += 1
                continue
            if reason is not None:
                result.incomplete += 1
                continue
            batch.append(Discovery(name, path_key(key, name, rel), rel, signature_of(info)))
            if len(batch) >= _BATCH:
                _flush(ledger, batch, result)
        _flush(ledger, batch, result)
    return result


def _flush(ledger: Ledger, batch: list[Discovery], result: BackfillResult) -> None:
    if not batch:
        return
    for file_id in ledger.discover_many(batch, time.time()):
        if file_id is None:
            result.known += 1
        else:
            result.added += 1
    batch.clear()


def _expand(paths: Iterable[Path]) -> Iterator[tuple[Path, bool]]:
    """Files named on the command line (explicit) and files under named folders."""
    for path in paths:
        absolute = path.resolve()
        if absolute.is_dir():
            for folder, dirs, files in os.walk(absolute):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                for name in files:
                    if not is_ignored_name(name):
                        yield Path(folder) / name, False
        else:
            yield absolute, True


def _source_of(
    path: Path, roots: list[tuple[str, Path, Selection]]
) -> tuple[str, str, Selection] | None:
    for name, root, selection in roots:
        if root in path.parents:
            return name, path.relative_to(root).as_posix(), selection
    return None
