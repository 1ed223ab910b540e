"""Pure: walk a PDF's object graph and decode its streams within limits (pikepdf, in memory).

The PDF scrubber's building blocks: ``open_pdf`` opens a file without repair (and keeps qpdf's
warnings off stderr), ``walk`` visits every object reachable from a root once
(indirect objects by object number, direct ones where they sit), ``filters`` reads a stream's
filter chain, ``decode`` inflates a stream only when its decoded size is known to stay under a
limit (a few hundred bytes of Flate can inflate to gigabytes), and ``object_needles`` gathers the
identifying values a dropped object holds, for the verifier.
"""

from __future__ import annotations

import contextlib
import io
import zlib
from collections.abc import Iterator
from typing import Final

import pikepdf
from pikepdf import Array, Dictionary, Name, Stream

from picsync.errors import RefusedError
from picsync.scrub.embedded_jpeg import metadata_needles
from picsync.scrub.verify import markup_values, text_needles

__all__ = [
    "MAX_OBJECTS",
    "decode",
    "filters",
    "is_text",
    "object_needles",
    "open_pdf",
    "strings_in",
    "walk",
]

MAX_OBJECTS: Final = 2_000_000  # objects visited in one walk; far beyond any scan or letter
DECODE_LIMIT: Final = 64 << 20  # decoded size of one stream picsync reads (XMP, ICC, content)
_GENERALIZED = frozenset({"/FlateDecode", "/LZWDecode", "/RunLengthDecode"})
_SHRINKING = frozenset({"/ASCIIHexDecode", "/ASCII85Decode"})
_WORST_RATIO = 4096  # LZW and RunLength expand at most about this much; Flate is probed instead
_NEEDLE_STREAM_LIMIT: Final = 16 << 20


@contextlib.contextmanager
def open_pdf(data: bytes) -> Iterator[pikepdf.Pdf]:
    """Open ``data`` without repair; close it on exit, having read qpdf's pending warnings (qpdf
    prints unread warnings to stderr when a file closes, and the daemon's stderr is a log)."""
    pdf = pikepdf.open(io.BytesIO(data), attempt_recovery=False)
    try:
        yield pdf
    finally:
        pdf.get_warnings()
        pdf.close()


def walk(
    root: pikepdf.Object,
    stop: frozenset[tuple[int, int]] = frozenset(),
    *,
    follow: bool = True,
) -> Iterator[pikepdf.Object]:
    """Every dictionary, stream and array reachable from ``root``, each once, root first,
    without entering the indirect objects numbered in ``stop`` (nor any other indirect object
    than ``root`` itself when ``follow`` is False).

    Iterative (PDF nesting can be deep), and bounded: a graph with more than ``MAX_OBJECTS``
    containers is refused rather than walked for ever.
    """
    seen: set[tuple[int, int]] = set(stop)
    stack = [root]
    visited = 0
    while stack:
        obj = stack.pop()
        if obj.is_indirect:
            if obj.objgen in seen or (not follow and visited):
                continue
            seen.add(obj.objgen)
        visited += 1
        if visited > MAX_OBJECTS:
            raise RefusedError("PDF has too many objects to verify")
        yield obj
        # Read the children after the caller has seen (and possibly edited) the container.
        children = obj.as_list() if isinstance(obj, Array) else _values(obj)
        stack.extend(reversed([child for child in children if _is_container(child)]))


def _values(obj: pikepdf.Object) -> list[pikepdf.Object]:
    if isinstance(obj, Stream):
        return list(obj.stream_dict.values())
    if isinstance(obj, Dictionary):
        return list(obj.values())
    return []


def _is_container(obj: object) -> bool:
    return isinstance(obj, Dictionary | Array | Stream)


def filters(stream: pikepdf.Object) -> list[str]:
    """The names of a stream's filters, in decoding order."""
    value = stream.get("/Filter")
    if value is None:
        return []
    items = value.as_list() if isinstance(value, Array) else [value]
    if not all(isinstance(item, Name) for item in items):
        raise RefusedError("PDF stream has a malformed filter")
    return [str(item) for item in items]


def decode(stream: pikepdf.Object, limit: int = DECODE_LIMIT) -> bytes | None:
    """The decoded data of ``stream``, or None when it is an image codec's data or would decode
    to more than ``limit`` bytes (which is not read at all)."""
    chain = filters(stream)
    raw_size = len(stream.read_raw_bytes())
    if not chain:
        return stream.read_raw_bytes() if raw_size <= limit else None
    if not set(chain) <= _GENERALIZED | _SHRINKING:
        return None  # DCT, JPX, JBIG2, CCITT: image data picsync never decodes
    if chain[0] == "/FlateDecode" and len(chain) == 1:
        if _inflated_size(stream.read_raw_bytes(), limit) > limit:
            return None
    elif raw_size * _WORST_RATIO ** sum(f in _GENERALIZED for f in chain) > limit:
        return None
    try:
        return stream.read_bytes()
    except pikepdf.PdfError as exc:
        raise RefusedError("PDF stream data cannot be decoded") from exc


def _inflated_size(raw: bytes, limit: int) -> int:
    """How much ``raw`` inflates to, counting no further than just past ``limit``."""
    inflater = zlib.decompressobj()
    total, pending = 0, raw
    while pending and total <= limit:
        try:
            total += len(inflater.decompress(pending, 1 << 20))
        except zlib.error:
            return total  # qpdf stops at the damage too (and warns, which refuses the file)
        pending = inflater.unconsumed_tail
    return total


def is_text(data: bytes) -> bool:
    """True when ``data`` looks like text (a note, a script), not an image or archive."""
    sample = data[:4096]
    printable = sum(32 <= byte < 127 or byte in (9, 10, 13) for byte in sample)
    return bool(sample) and printable >= 0.9 * len(sample)


def object_needles(obj: pikepdf.Object) -> set[bytes]:
    """Identifying values in one dropped object and the direct objects inside it (not the
    indirect objects it refers to): every string, the text of XMP packets, scripts and text
    attachments, the metadata of JPEG images and attached JPEGs."""
    if isinstance(obj, pikepdf.String):
        return _string_needles(obj)
    needles: set[bytes] = set()
    if not _is_container(obj):
        return needles
    for container in walk(obj, follow=False):
        needles |= strings_in(container)
        if isinstance(container, Stream):
            needles |= _stream_needles(container)
    return needles


def strings_in(container: pikepdf.Object) -> set[bytes]:
    """The strings directly inside one dictionary, stream dictionary or array, as needles."""
    children = container.as_list() if isinstance(container, Array) else _values(container)
    found: set[bytes] = set()
    for child in children:
        if isinstance(child, pikepdf.String):
            found |= _string_needles(child)
    return found


def _string_needles(value: pikepdf.String) -> set[bytes]:
    raw = bytes(value)
    return {raw, str(value).encode("utf-8")}


def _stream_needles(stream: pikepdf.Object) -> set[bytes]:
    kind, subtype = stream.get("/Type"), stream.get("/Subtype")
    if kind == Name.Metadata or subtype == Name.XML:
        data = _decoded_or_empty(stream)
        return markup_values(data) if data else set()
    if subtype == Name.Image and filters(stream) == ["/DCTDecode"]:
        try:
            return metadata_needles(stream.read_raw_bytes())
        except RefusedError:
            return set()  # not a JPEG that parses; its pixels are no needles
    if kind == Name.EmbeddedFile or (kind is None and subtype is None):
        data = _decoded_or_empty(stream)  # an attachment, a script, a note
        if data.startswith(b"\xff\xd8"):
            try:
                return metadata_needles(data)
            except RefusedError:
                return set()
        return text_needles(data) if is_text(data) else set()
    return set()  # images, fonts, forms: content, not metadata


def _decoded_or_empty(stream: pikepdf.Object) -> bytes:
    try:
        return decode(stream, _NEEDLE_STREAM_LIMIT) or b""
    except RefusedError:
        return b""  # the stream is dropped whole; the structural checks prove it
