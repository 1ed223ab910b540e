"""Pure: the stages a source file passes through on its way into the spool.

A *transform* reads the (seekable) source and writes the file as it may leave the station: the
scrub stage, or a byte-for-byte copy. Its output goes, through a tee that hashes it, to one or
more *sinks* (age encryptors writing spool files), so plaintext exists only in memory. The
*manifest* says what the sealed image is; it is sealed too and travels beside the image.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from picsync import __version__
from picsync.formats import SNIFF_BYTES, Format, sniff

_COPY_CHUNK = 1 << 20
MANIFEST_VERSION = 1


class Writer(Protocol):
    def write(self, data: bytes | bytearray | memoryview, /) -> int | None: ...


@dataclass(frozen=True, slots=True)
class TransformResult:
    """What the transform stage learnt; everything but ``format`` and ``removed`` is PHI."""

    format: Format
    removed: tuple[str, ...] = ()
    capture_time: str | None = None
    identifiers: Mapping[str, str] = field(default_factory=dict)


class Transform(Protocol):
    def __call__(self, src: BinaryIO, sink: BinaryIO) -> TransformResult: ...


@dataclass(frozen=True, slots=True)
class Produced:
    result: TransformResult
    plain_sha256: str  # of the transform's output: what the records office will decrypt
    plain_size: int


class Tee:
    """Counts and hashes everything written, and passes it on to every sink."""

    def __init__(self, sinks: Sequence[Writer]) -> None:
        self._sinks = sinks
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._digest.update(data)
        self.size += len(data)
        for sink in self._sinks:
            sink.write(data)
        return len(data)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def copy_transform(src: BinaryIO, sink: BinaryIO) -> TransformResult:
    """Pass the file through unchanged."""
    head = src.read(SNIFF_BYTES)
    fmt, _ = sniff(head)
    sink.write(head)
    shutil.copyfileobj(src, sink, _COPY_CHUNK)
    return TransformResult(format=fmt)


def produce(src: BinaryIO, transform: Transform, sinks: Sequence[Writer]) -> Produced:
    """Run ``src`` through the transform into every sink; the sinks are finished by the caller."""
    tee = Tee(sinks)
    result = transform(src, tee)  # type: ignore[arg-type]
    return Produced(result=result, plain_sha256=tee.hexdigest(), plain_size=tee.size)


@dataclass(frozen=True, slots=True)
class ManifestFacts:
    """Everything the sealed manifest records about one prepared file."""

    remote_id: str
    station: str
    source: str
    original_path: str
    source_sha256: str
    source_size: int
    image_suffix: str
    key_epoch: str
    prepared_at: str  # ISO 8601, UTC


def build_manifest(
    facts: ManifestFacts, produced: Produced, identifiers: Mapping[str, str]
) -> bytes:
    """The manifest JSON. It holds PHI (the original path, identifiers): it is only ever sealed."""
    result = produced.result
    document = {
        "picsync_manifest": MANIFEST_VERSION,
        "id": facts.remote_id,
        "image": facts.remote_id + facts.image_suffix,
        "station": facts.station,
        "source": facts.source,
        "original_path": facts.original_path,
        "source_sha256": facts.source_sha256,
        "source_size": facts.source_size,
        "scrubbed_sha256": produced.plain_sha256,
        "scrubbed_size": produced.plain_size,
        "format": result.format.value,
        "capture_time": result.capture_time,
        "removed": list(result.removed),
        "identifiers": dict(identifiers),
        "key_epoch": facts.key_epoch,
        "prepared_at": facts.prepared_at,
        "picsync_version": __version__,
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8")


def sha256_stream(src: BinaryIO) -> tuple[str, int]:
    """SHA-256 and size of a whole stream, read in bounded chunks."""
    digest = hashlib.sha256()
    size = 0
    while chunk := src.read(_COPY_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size
