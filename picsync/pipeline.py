"""Pure: the chain of stages a source file passes through on its way into the spool.

A *transform* reads the (seekable) source and writes the file as it may leave the station: in
this version a byte-for-byte copy; the scrub stage takes its place. A *sealer* wraps the spool
file in an encoding writer (identity here; age encryption takes its place). ``produce`` joins
them and measures what passed between them.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from picsync.formats import SNIFF_BYTES, Format, sniff

_COPY_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class TransformResult:
    """What the transform stage learnt; everything but ``format`` and ``removed`` is PHI."""

    format: Format
    removed: tuple[str, ...] = ()
    capture_time: str | None = None
    identifiers: dict[str, str] = field(default_factory=dict)


class Transform(Protocol):
    def __call__(self, src: BinaryIO, sink: BinaryIO) -> TransformResult: ...


class Sealer(Protocol):
    suffix: str  # added to the spool and remote names, e.g. ".age"

    def wrap(self, out: BinaryIO) -> AbstractContextManager[BinaryIO]:
        """A writer that encodes into ``out``; leaving the context finishes the encoding."""
        ...


@dataclass(frozen=True, slots=True)
class Produced:
    result: TransformResult
    plain_sha256: str  # of the transform's output: what the records office will decrypt
    plain_size: int


class HashingWriter:
    """Counts and hashes everything written through it to ``target``."""

    def __init__(self, target: BinaryIO) -> None:
        self._target = target
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._digest.update(data)
        self.size += len(data)
        self._target.write(data)
        return len(data)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def copy_transform(src: BinaryIO, sink: BinaryIO) -> TransformResult:
    """Pass the file through unchanged (the chain's placeholder until scrubbing plugs in)."""
    head = src.read(SNIFF_BYTES)
    fmt, _ = sniff(head)
    sink.write(head)
    shutil.copyfileobj(src, sink, _COPY_CHUNK)
    return TransformResult(format=fmt)


class PlainSealer:
    """No encoding: the spool holds the transform's output as it is."""

    suffix = ""

    @contextmanager
    def _writer(self, out: BinaryIO) -> Iterator[BinaryIO]:
        yield out

    def wrap(self, out: BinaryIO) -> AbstractContextManager[BinaryIO]:
        return self._writer(out)


def produce(src: BinaryIO, out: BinaryIO, transform: Transform, sealer: Sealer) -> Produced:
    """Run ``src`` through the transform and the sealer into ``out``."""
    with sealer.wrap(out) as sealed:
        plain = HashingWriter(sealed)
        result = transform(src, plain)  # type: ignore[arg-type]
    return Produced(result=result, plain_sha256=plain.hexdigest(), plain_size=plain.size)


def sha256_stream(src: BinaryIO) -> tuple[str, int]:
    """SHA-256 and size of a whole stream, read in bounded chunks."""
    digest = hashlib.sha256()
    size = 0
    while chunk := src.read(_COPY_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size
