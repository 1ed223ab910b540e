"""The verifier: finds identifying values wherever they hide, says where but never what."""

from __future__ import annotations

import base64
import gzip
import io
import random
import zipfile
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from picsync.errors import RefusedError
from picsync.scrub.verify import ensure_clean, find_leaks, markup_values, text_needles
from tests.scrub.planted import PLANTED, planted_xmp

NAME = PLANTED["ImageDescription"].encode()
SERIAL = PLANTED["BodySerialNumber"].encode()
FILLER = random.Random(11).randbytes(3000)


def _zip(payload: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("note.txt", payload)
    return out.getvalue()


HIDING_PLACES = {
    "raw": (lambda v: v, "in the raw bytes"),
    "upper-case": (lambda v: v.upper(), "in the raw bytes"),
    "utf-16le": (lambda v: v.decode().encode("utf-16-le"), "as UTF-16 text in the raw bytes"),
    "utf-16be": (lambda v: v.decode().encode("utf-16-be"), "as UTF-16 text in the raw bytes"),
    "zlib": (lambda v: zlib.compress(b"prefix " + v * 3), "inside a zlib stream"),
    "gzip": (lambda v: gzip.compress(v), "inside a gzip stream"),
    "zip": (lambda v: _zip(b"x" * 100 + v), "inside a ZIP deflate stream"),
    "base64": (lambda v: b"data:" + base64.b64encode(b"ab" + v), "inside base64 text"),
    "base64-wrapped": (lambda v: base64.encodebytes(bytes(50) + v), "inside base64 text"),
    "hex": (lambda v: b"<" + v.hex().upper().encode() + b">", "inside hex text"),
    "zlib-in-base64": (lambda v: base64.b64encode(zlib.compress(v)), "inside a zlib stream"),
}


@pytest.mark.parametrize("place", HIDING_PLACES)
def test_value_is_found_where_it_hides(place: str) -> None:
    hide, where = HIDING_PLACES[place]
    data = FILLER[:1000] + hide(NAME) + FILLER[1000:]
    findings = find_leaks(data, [NAME, b"other value not present"])
    assert any(where in finding for finding in findings), findings
    assert all(NAME.decode().lower() not in finding.lower() for finding in findings)
    assert find_leaks(FILLER, [NAME]) == []  # the same filler without the value is clean


def test_nested_description_names_the_layers() -> None:
    data = base64.b64encode(zlib.compress(SERIAL))
    assert find_leaks(data, [SERIAL]) == [
        "identifying value found inside a zlib stream (inside base64 text)"
    ]


@pytest.mark.parametrize(
    "needle", [b"abc", b"", b"    ", b"\x00\x00\x00\x00", b"aaaaaa", b"2031", b"12:30", b"Unknown"]
)
def test_short_and_trivial_needles_are_ignored(needle: bytes) -> None:
    assert find_leaks(b"xx " + needle + b" xx", [needle]) == []


def test_a_stream_too_large_to_inflate_is_itself_a_finding() -> None:
    bomb = zlib.compress(bytes(20 << 20), 9)
    assert len(bomb) < 100_000
    findings = find_leaks(b"header" + bomb, [SERIAL])
    assert any("cannot verify" in finding for finding in findings)


def test_ensure_clean_refuses_without_repeating_the_value() -> None:
    ensure_clean(FILLER, [SERIAL])  # clean: no error
    with pytest.raises(RefusedError) as refused:
        ensure_clean(zlib.compress(SERIAL), [SERIAL])
    assert SERIAL.decode() not in str(refused.value)
    assert "zlib" in str(refused.value)


def test_deliberately_written_values_are_not_leaks() -> None:
    stamp = b"2031:02:03   :  :  \x00"
    ensure_clean(b"DateTimeOriginal " + stamp, [b"2031:02:03"], written=[stamp])
    with pytest.raises(RefusedError):
        ensure_clean(b"DateTimeOriginal " + stamp, [b"2031:02:03"])


def test_text_needles_finds_ascii_and_utf16_runs() -> None:
    blob = b"\x01\x02" + SERIAL + b"\x00\x07" + PLANTED["Ducky"].encode("utf-16-be") + b"\xff"
    found = text_needles(blob)
    assert SERIAL in found and PLANTED["Ducky"].encode() in found
    assert text_needles(b"\x01\x02abc\x03") == set()


def test_markup_values_finds_element_text_and_attributes_only() -> None:
    values = markup_values(planted_xmp())
    for label in ("XmpCreator", "XmpHistory", "XmpDocumentID", "XmpSerial", "XmpPerson"):
        assert PLANTED[label].encode() in values
    assert b"W5M0MpCehiHzreSzNTczkc9d" not in values  # xpacket id: the same in every XMP
    assert not any(value.startswith(b"http://") for value in values)  # namespace declarations
    assert markup_values(b"<a>Fish &amp; Chips Fakename</a>") == {b"Fish & Chips Fakename"}


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000), st.integers(min_value=0), st.sampled_from(list(HIDING_PLACES)))
def test_a_hidden_value_is_always_found(noise: bytes, position: int, place: str) -> None:
    hide, where = HIDING_PLACES[place]
    cut = position % (len(noise) + 1)
    data = noise[:cut] + b" " + hide(SERIAL) + b" " + noise[cut:]
    assert any(where in finding for finding in find_leaks(data, [SERIAL]))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4000), st.lists(st.binary(min_size=0, max_size=40), max_size=8))
def test_arbitrary_bytes_never_crash(data: bytes, needles: list[bytes]) -> None:
    findings = find_leaks(data, needles)
    assert all(isinstance(finding, str) for finding in findings)
