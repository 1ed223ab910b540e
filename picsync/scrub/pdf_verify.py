"""Pure: prove a de-identified PDF is clean before a byte of it is written (deid.md rule 12).

``verify_pdf`` re-opens the output with pikepdf (no repair, no warning tolerated) and checks:

- structure: no trailer /Info, a fresh /ID, catalog and page entries within their allowlists, no
  metadata, attachment, script, annotation, outline or thumbnail key in any object, no object
  that is an attachment, annotation or metadata stream, every object reachable;
- content: the same number of pages, each drawn by the same content stream bytes as before;
  every JPEG and JPEG 2000 image already clean (cleaning it again changes nothing);
- leaks: ``verify.ensure_clean`` over every byte of the file (inflating object streams, decoding
  hex and base64) except the data of streams that are the document's content copied unchanged
  (page drawing instructions, font programs, image samples, and JPEG tables and scans, which were
  proven identical to the input's). That content is the document itself, out of scope for metadata
  cleaning (deid.md §2.5: the OCR text layer is content); scanning it would refuse any letter
  whose text repeats its author's name, and would spend minutes inflating pixel data.
"""

from __future__ import annotations

from dataclasses import dataclass

import pikepdf
from pikepdf import Dictionary, Name, Stream

from picsync.errors import RefusedError
from picsync.scrub.embedded_jpeg import clean_jpeg, metadata_end
from picsync.scrub.jpeg2000 import clean_jpx
from picsync.scrub.pdf_clean import CATALOG_KEYS, PAGE_KEYS
from picsync.scrub.pdf_graph import filters, open_pdf, walk
from picsync.scrub.pdf_images import digest
from picsync.scrub.verify import ensure_clean

__all__ = ["Expected", "page_contents", "verify_pdf"]

_FORBIDDEN_KEYS = frozenset(
    {"/Info", "/Metadata", "/PieceInfo", "/LastModified", "/AA", "/AF", "/OPI", "/Thumb"}
    | {"/Annots", "/Outlines", "/OpenAction", "/Names", "/EmbeddedFiles", "/EmbeddedFile"}
    | {"/JavaScript", "/JS", "/AcroForm", "/StructTreeRoot", "/Perms", "/SpiderInfo", "/URI"}
    | {"/PtData", "/PageLabels", "/Threads", "/Dests", "/Collection", "/DSS"}
)
_FORBIDDEN_TYPES = frozenset(
    {"/Metadata", "/EmbeddedFile", "/Filespec", "/Annot", "/Outlines", "/Action", "/Sig"}
)
_TRAILER_KEYS = frozenset({"/Root", "/Size", "/ID"})
_XREF_STREAM_KEYS = frozenset({"/Type", "/W", "/Index", "/Filter", "/DecodeParms", "/Length"})


@dataclass(frozen=True, slots=True)
class Expected:
    """What the output must match: the input's page content and /ID, the kept content streams."""

    pages: tuple[tuple[bytes, ...], ...]  # per page, digests of its content streams' raw bytes
    original_id: frozenset[bytes]  # empty when the input is already picsync's own output
    content: frozenset[bytes]  # digests of streams that are content copied unchanged
    jpegs: frozenset[bytes]  # digests of cleaned JPEG image streams


def page_contents(pdf: pikepdf.Pdf) -> tuple[tuple[bytes, ...], ...]:
    """Per page, the digests of its content streams' raw bytes (what draws the page)."""
    pages = []
    for page in pdf.pages:
        contents = page.obj.get("/Contents")
        items = contents.as_list() if isinstance(contents, pikepdf.Array) else [contents]
        pages.append(tuple(digest(s.read_raw_bytes()) for s in items if isinstance(s, Stream)))
    return tuple(pages)


def verify_pdf(output: bytes, expected: Expected, needles: set[bytes]) -> None:
    """Raise ``RefusedError`` unless ``output`` passes every check in the module docstring."""
    try:
        with open_pdf(output) as pdf:
            _check_structure(pdf, expected)
            if page_contents(pdf) != expected.pages:
                raise RefusedError("de-identified PDF does not draw the same page content")
            holes = _content_holes(pdf, output, expected)
            if pdf.get_warnings():
                raise RefusedError("de-identified PDF re-opens with warnings")
    except pikepdf.PdfError as exc:
        raise RefusedError("de-identified PDF does not re-open") from exc
    pieces, pos = [], 0
    for start, end in sorted(holes):
        pieces.append(output[pos:start])
        pos = end
    pieces.append(output[pos:])
    ensure_clean(b"\n\x00\n".join(pieces), needles)


def _check_structure(pdf: pikepdf.Pdf, expected: Expected) -> None:
    trailer = pdf.trailer
    if set(trailer.keys()) - _TRAILER_KEYS - _XREF_STREAM_KEYS:
        raise RefusedError("de-identified PDF trailer holds more than it should")
    ids = trailer.get("/ID")
    if not isinstance(ids, pikepdf.Array) or len(ids) != 2:
        raise RefusedError("de-identified PDF has no document ID")
    if {bytes(part) for part in ids.as_list()} & expected.original_id:
        # Only a file picsync already wrote may keep its ID (the digest of the same content).
        raise RefusedError("de-identified PDF kept its original document ID")
    if set(pdf.Root.keys()) - CATALOG_KEYS:
        raise RefusedError("de-identified PDF catalog holds more than it should")
    for page in pdf.pages:
        if set(page.obj.keys()) - PAGE_KEYS:
            raise RefusedError("de-identified PDF page holds more than it should")
    reachable = {obj.objgen for obj in walk(pdf.Root) if obj.is_indirect}
    for obj in pdf.objects:
        if not isinstance(obj, Dictionary | Stream):
            continue
        kind = obj.get("/Type")
        if kind in (Name.ObjStm, Name.XRef):
            continue
        if obj.objgen not in reachable:
            raise RefusedError("de-identified PDF holds an unreferenced object")
    for obj in walk(pdf.Root):
        if isinstance(obj, Dictionary | Stream):
            if set(obj.keys()) & _FORBIDDEN_KEYS or str(obj.get("/Type")) in _FORBIDDEN_TYPES:
                raise RefusedError("de-identified PDF still holds a metadata object")
            if isinstance(obj, Stream) and obj.get("/Subtype") == Name.Image:
                _check_image(obj)


def _check_image(image: pikepdf.Object) -> None:
    chain = filters(image)
    if chain == ["/DCTDecode"] and clean_jpeg(image.read_raw_bytes()).changed:
        raise RefusedError("de-identified PDF holds a JPEG image with metadata")
    if chain == ["/JPXDecode"] and clean_jpx(image.read_raw_bytes()).changed:
        raise RefusedError("de-identified PDF holds a JPEG 2000 image with metadata")
    if ("/DCTDecode" in chain or "/JPXDecode" in chain) and len(chain) != 1:
        raise RefusedError("de-identified PDF holds an image picsync did not clean")


def _content_holes(pdf: pikepdf.Pdf, output: bytes, expected: Expected) -> list[tuple[int, int]]:
    """Byte ranges of ``output`` holding content copied unchanged (see the module docstring)."""
    holes = []
    for objgen, entry in pdf.get_xref_table().items():
        if entry.type != 1:
            continue  # free, or inside an object stream (which holds no stream data)
        obj = pdf.get_object(objgen)
        if not isinstance(obj, Stream):
            continue
        raw = obj.read_raw_bytes()
        key = digest(raw)
        if key in expected.content:
            skip = 0
        elif key in expected.jpegs:
            skip = metadata_end(raw)  # the JPEG's metadata segments are scanned, not its pixels
        else:
            continue
        offset = entry.offset or 0
        start = output.find(b"stream\n", offset) + len(b"stream\n")
        if start > offset and output[start : start + len(raw)] == raw:
            holes.append((start + skip, start + len(raw)))
    return holes
