"""Pure: prove that bytes picsync generated hold none of the identifying values of the input.

deid.md rule 12: after building its output a scrubber re-scans what it generated for every
identifier it found in the input, in the raw bytes and inside every zlib/gzip/ZIP-deflate stream,
base64 run and hex run it can decode (nested a few levels deep), in UTF-8, Latin-1 and UTF-16
forms, ignoring ASCII case. ``find_leaks`` says *where* a value was found, never *which* value:
its descriptions end up in logs and quarantine reasons.

Work is bounded: inflating stops at a total budget (a stream past it is itself a finding, since
it cannot be verified), and decoding recurses at most ``_MAX_DEPTH`` levels.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import html
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from picsync.errors import RefusedError

__all__ = ["ensure_clean", "find_leaks", "markup_values", "text_needles"]

MIN_NEEDLE = 4
_MAX_DEPTH = 3
_FEED = 1 << 16  # bytes of compressed input handed to zlib at a time
_STREAM_LIMIT = 16 << 20  # one inflated stream; an ICC profile is at most ~16 MiB
_TOTAL_LIMIT = 64 << 20  # everything inflated in one call
_TRIVIAL = frozenset(
    {b"none", b"unknown", b"null", b"true", b"false", b"default", b"untitled", b"n/a"}
)
_NUMERIC = re.compile(rb"[\d\s.,:/+\-]*")
# Plain character classes (no alternation) keep these scans at C speed on large inputs.
_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/\r\n]{8,}={0,2}")
_HEX_RUN = re.compile(rb"[0-9A-Fa-f\s]{16,}")
# zlib CMF byte: method 8 (deflate), window 2**8..2**15; then any FLG byte (checked below).
# (Lookahead for FLG, so that overlapping candidates such as 78 78 9C are all tried.)
_ZLIB_HEADER = re.compile(rb"[\x08\x18\x28\x38\x48\x58\x68\x78](?=(.))", re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Form:
    pattern: bytes  # lower-cased bytes to look for
    encoding: str  # "" or " as UTF-16 text"


class _Budget:
    def __init__(self) -> None:
        self.left = _TOTAL_LIMIT


def find_leaks(data: bytes, needles: Iterable[bytes]) -> list[str]:
    """PHI-free descriptions of where any needle occurs in ``data``; empty when clean.

    Needles shorter than 4 bytes after trimming, and trivial values (repeated bytes, short
    numbers, words such as "unknown"), are ignored: they would match by chance.
    """
    forms = _forms(needles)
    if not forms:
        return []
    findings: dict[str, None] = {}
    _scan(bytes(data), forms, "in the raw bytes", 0, _Budget(), findings)
    return list(findings)


def ensure_clean(generated: bytes, needles: Iterable[bytes], written: Iterable[bytes] = ()) -> None:
    """Raise ``RefusedError`` if bytes picsync generated hold any needle (deid.md rule 12).

    ``written`` are values the scrubber writes on purpose (the capture date when the clinic
    keeps it); a needle found inside one of them is not a leak.
    """
    deliberate = [value.lower() for value in written]
    needles = [n for n in needles if not any(n.lower() in value for value in deliberate)]
    leaks = find_leaks(generated, needles)
    if leaks:
        raise RefusedError("de-identified output failed verification: " + "; ".join(leaks))


def _forms(needles: Iterable[bytes]) -> list[_Form]:
    forms: dict[bytes, str] = {}
    for needle in needles:
        value = bytes(needle).strip(b" \t\r\n\x00")
        if _is_trivial(value):
            continue
        forms.setdefault(value.lower(), "")
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            continue
        for codec in ("utf-16-le", "utf-16-be"):
            forms.setdefault(text.encode(codec).lower(), " as UTF-16 text")
        if not text.isascii():
            with contextlib.suppress(UnicodeEncodeError):
                forms.setdefault(text.encode("latin-1").lower(), "")
    # Shortest first, so that ``_scan`` stops at the first form longer than what it scans: most
    # decoded payloads are a few bytes, and testing hundreds of longer forms cost most of a PDF.
    ordered = sorted(forms.items(), key=lambda item: len(item[0]))
    return [_Form(pattern, encoding) for pattern, encoding in ordered]


def _is_trivial(value: bytes) -> bool:
    if len(value) < MIN_NEEDLE or len(set(value)) == 1:
        return True
    if value.lower() in _TRIVIAL:
        return True
    return len(value) < 8 and _NUMERIC.fullmatch(value) is not None


def _scan(
    data: bytes, forms: list[_Form], where: str, depth: int, budget: _Budget, out: dict[str, None]
) -> None:
    lowered = data.lower()
    for form in forms:  # shortest first (``_forms``): none after this one fits in ``data``
        if len(form.pattern) > len(lowered):
            break
        if form.pattern in lowered:
            out[f"identifying value found{form.encoding} {where}"] = None
    if depth >= _MAX_DEPTH:
        return
    inner = "" if depth == 0 else f" ({where})"
    for kind, payload in _inflated(data, budget, out):
        _scan(payload, forms, f"inside a {kind} stream{inner}", depth + 1, budget, out)
    for payload in _base64_payloads(data):
        _scan(payload, forms, f"inside base64 text{inner}", depth + 1, budget, out)
    for payload in _hex_payloads(data):
        _scan(payload, forms, f"inside hex text{inner}", depth + 1, budget, out)


def _inflated(data: bytes, budget: _Budget, out: dict[str, None]) -> Iterator[tuple[str, bytes]]:
    """Every zlib, gzip and ZIP-deflate stream that inflates to something, even partly.

    Input is fed in small pieces: handing zlib the whole rest of the file would copy it again
    for every candidate header (quadratic on large files full of chance matches).
    """
    view = memoryview(data)
    for start, kind, wbits in _stream_candidates(data):
        if budget.left <= 0:
            out["compressed data exceeds the verification limit; cannot verify it"] = None
            return
        limit = min(_STREAM_LIMIT, budget.left)
        inflater = zlib.decompressobj(wbits)
        pieces: list[bytes] = []
        produced = 0
        position = start
        try:
            while position < len(data) and produced < limit and not inflater.eof:
                piece = inflater.decompress(view[position : position + _FEED], limit - produced)
                position += _FEED - len(inflater.unconsumed_tail)
                pieces.append(piece)
                produced += len(piece)
                if inflater.unconsumed_tail:
                    break  # the limit stopped it with input left over
        except zlib.error:
            if not produced:
                continue  # not a stream after all (the header bytes occur by chance)
        budget.left -= produced
        if produced >= limit and not inflater.eof:
            out["a compressed stream inflates past the verification limit; cannot verify it"] = None
        if produced:
            yield kind, b"".join(pieces)


def _stream_candidates(data: bytes) -> Iterator[tuple[int, str, int]]:
    for match in _ZLIB_HEADER.finditer(data):
        cmf, flg = data[match.start()], match.group(1)[0]
        if (cmf << 8 | flg) % 31 == 0 and not flg & 0x20:  # check bits valid, no preset dict
            yield match.start(), "zlib", zlib.MAX_WBITS
    for match in re.finditer(rb"\x1f\x8b\x08", data):
        yield match.start(), "gzip", zlib.MAX_WBITS | 16
    for match in re.finditer(rb"PK\x03\x04", data):
        header = data[match.start() : match.start() + 30]
        if len(header) == 30 and header[8:10] == b"\x08\x00":  # method 8: deflate
            skip = 30 + int.from_bytes(header[26:28], "little")
            skip += int.from_bytes(header[28:30], "little")
            yield match.start() + skip, "ZIP deflate", -zlib.MAX_WBITS


def _base64_payloads(data: bytes) -> Iterator[bytes]:
    for match in _BASE64_RUN.finditer(data):
        run = re.sub(rb"\s", b"", match.group())
        if len(run) < 8:
            continue
        # The run may start mid-group when text runs into it; try every alignment.
        for shift in range(4):
            chunk = run[shift:]
            chunk = chunk[: len(chunk) - len(chunk) % 4] if not chunk.endswith(b"=") else chunk
            if len(chunk) < 8:
                continue
            try:
                yield base64.b64decode(chunk + b"=" * (-len(chunk) % 4))
            except (binascii.Error, ValueError):
                continue


def _hex_payloads(data: bytes) -> Iterator[bytes]:
    for match in _HEX_RUN.finditer(data):
        digits = re.sub(rb"\s", b"", match.group())
        if len(digits) < 16:
            continue
        for shift in range(2):
            chunk = digits[shift:]
            chunk = chunk[: len(chunk) - len(chunk) % 2]
            yield bytes.fromhex(chunk.decode("ascii"))


_ASCII_RUN = re.compile(rb"[\x20-\x7e]{6,}")
_UTF16LE_RUN = re.compile(rb"(?:[\x20-\x7e]\x00){6,}")
_UTF16BE_RUN = re.compile(rb"(?:\x00[\x20-\x7e]){6,}")
_MAX_NEEDLE = 256


def text_needles(blob: bytes, limit: int = 4096) -> set[bytes]:
    """Printable runs (ASCII, UTF-16LE/BE; 6+ characters) in an opaque blob, as UTF-8 needles.

    For vendor segments and MakerNotes, whose structure picsync does not parse: any text in
    them may be a name or serial number.
    """
    found: set[bytes] = set()
    for pattern, codec in (
        (_ASCII_RUN, "ascii"),
        (_UTF16LE_RUN, "utf-16-le"),
        (_UTF16BE_RUN, "utf-16-be"),
    ):
        for match in pattern.finditer(blob):
            value = match.group().decode(codec).strip().encode("utf-8")[:_MAX_NEEDLE]
            if not _is_trivial(value):
                found.add(value)
            if len(found) >= limit:
                return found
    return found


_MARKUP_NOISE = re.compile(
    rb"<\?.*?\?>|<!--.*?-->|\bxmlns(?::[\w.-]+)?\s*=\s*(\"[^\"]*\"|'[^']*')", re.S
)
_ELEMENT_TEXT = re.compile(rb"<(/?)([\w:.-]+)[^<>]*>([^<>]+)(?=<)")
_ATTRIBUTE = re.compile(rb"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
# Equipment and colour-space names, not people: they recur in the text of standard ICC
# profiles that picsync keeps ("Copyright Apple Inc."), so as needles they would only misfire.
_NOT_NEEDLES = frozenset(
    {b"tiff:make", b"exifex:lensmake", b"aux:lensmake", b"photoshop:iccprofile"}
)


def markup_values(xml: bytes, limit: int = 4096) -> set[bytes]:
    """Element texts and attribute values of an XML/XMP packet, entities decoded, as needles.

    Namespace declarations and processing instructions (the ``xpacket`` id is the same in
    every XMP file) are skipped, as are make and colour-profile names: they identify nobody.
    """
    body = _MARKUP_NOISE.sub(b" ", xml)
    found: set[bytes] = set()
    pairs = [
        (name if not closing else b"", text) for closing, name, text in _ELEMENT_TEXT.findall(body)
    ]
    pairs += [(name, double or single) for name, double, single in _ATTRIBUTE.findall(body)]
    for name, raw in pairs:
        if name.lower() in _NOT_NEEDLES:
            continue
        text = html.unescape(raw.decode("utf-8", "replace")).strip()
        value = text.encode("utf-8")[:_MAX_NEEDLE]
        if not _is_trivial(value):
            found.add(value)
        if len(found) >= limit:
            break
    return found
