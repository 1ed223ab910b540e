"""The destinations as the oracle sees them: what is stored, and every write that stored bytes.

One small adapter per destination type, so the oracle reads a folder outbox, the Dropbox
emulator and the Box emulator alike: ``objects()`` maps a remote path to the bytes stored there;
``writes()`` counts, per remote path, the writes that stored bytes (None where the store cannot
tell, as for a folder); ``requests()`` is the emulator's request log (empty for a folder);
``leftovers()`` lists temporary files a destination should never keep.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tests.emulators.box import BoxEmulator
from tests.emulators.dropbox import DropboxEmulator
from tests.emulators.request_log import RequestRecord

SEALED_MANIFEST = ".json.age"


class Remote(Protocol):
    name: str  # the destination's name in the site configuration
    kind: str

    def objects(self) -> Mapping[str, bytes]: ...

    def writes(self) -> Counter[str] | None: ...

    def requests(self) -> list[RequestRecord]: ...

    def leftovers(self) -> list[str]: ...


def is_manifest(path: str) -> bool:
    return path.endswith(SEALED_MANIFEST)


class _FilesOnDisk(Mapping[str, bytes]):
    """Remote path → bytes, read from disk only when asked (a long run holds gigabytes)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._paths = {
            p.relative_to(root).as_posix(): p
            for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(".")
        }

    def __getitem__(self, key: str) -> bytes:
        return self._paths[key].read_bytes()

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


@dataclass
class FolderRemote:
    """A folder destination (``type: folder``)."""

    name: str
    root: Path
    kind: str = "folder"

    def objects(self) -> Mapping[str, bytes]:
        return _FilesOnDisk(self.root)

    def writes(self) -> Counter[str] | None:
        return None  # a folder keeps no history of writes

    def requests(self) -> list[RequestRecord]:
        return []

    def leftovers(self) -> list[str]:
        return [p.name for p in self.root.rglob(".*") if p.is_file()]


@dataclass
class DropboxRemote:
    """The Dropbox emulator (``type: dropbox``); probe markers are not photos."""

    name: str
    emulator: DropboxEmulator
    kind: str = "dropbox"

    def objects(self) -> dict[str, bytes]:
        return {p: d for p, d in self.emulator.files().items() if p.endswith(".age")}

    def writes(self) -> Counter[str] | None:
        return Counter(c.path_lower for c in self.emulator.commits())

    def requests(self) -> list[RequestRecord]:
        return self.emulator.requests()

    def leftovers(self) -> list[str]:
        return []


@dataclass
class BoxRemote:
    """The Box emulator (``type: box``)."""

    name: str
    emulator: BoxEmulator
    kind: str = "box"

    def objects(self) -> dict[str, bytes]:
        return {p: d for p, d in self.emulator.files().items() if p.endswith(".age")}

    def writes(self) -> Counter[str] | None:
        return Counter(f"{c.parent_id}/{c.name}" for c in self.emulator.commits())

    def requests(self) -> list[RequestRecord]:
        return self.emulator.requests()

    def leftovers(self) -> list[str]:
        return []
