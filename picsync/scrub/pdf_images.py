"""Pure: clean the images and colour profiles a PDF keeps, and list its content streams.

Works on the graph ``pdf_clean`` left (pikepdf, edits in memory), never re-encoding a pixel:

- DCT (JPEG) image XObjects: APPn/COM segments stripped at segment level (``embedded_jpeg``); the
  stream keeps /Filter /DCTDecode and its decode parameters, and the entropy-coded data is proven
  identical. A DCT image behind a Flate filter is unwrapped first.
- JPX (JPEG 2000) image XObjects: boxes and comments stripped (``jpeg2000``).
- JBIG2 image XObjects and their shared symbols: checked to hold pixel segments only
  (``pdf_jbig2``); one with an extension (comment) segment is refused.
- ICC profiles (/ICCBased colour spaces, output intents): sanitised (``icc.sanitise_icc``).
- Content streams (pages, forms, tiling patterns, Type 3 glyphs): never changed. An inline JPEG
  image carrying metadata inside one is refused: cleaning it would mean rewriting the page's
  drawing instructions.

It also records which kept streams are content copied byte for byte (page content, image data,
fonts), so the verifier can tell picsync's own bytes from the document's content.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field

import pikepdf
from pikepdf import Array, Dictionary, Name, Stream

from picsync.errors import RefusedError
from picsync.scrub.embedded_jpeg import clean_jpeg
from picsync.scrub.icc import sanitise_icc
from picsync.scrub.jpeg2000 import clean_jpx
from picsync.scrub.pdf_graph import decode, filters, walk
from picsync.scrub.pdf_jbig2 import check_jbig2

__all__ = ["ImageCleaning", "clean_images", "digest"]

_JPEG_LIMIT = 256 << 20
_FONT_FILES = ("/FontFile", "/FontFile2", "/FontFile3")
_PDF_WHITESPACE = b"\x00\t\n\x0c\r "
_IMAGE_FILTERS = frozenset(
    {"/FlateDecode", "/LZWDecode", "/RunLengthDecode", "/ASCIIHexDecode", "/ASCII85Decode"}
    | {"/CCITTFaxDecode", "/JBIG2Decode", "/DCTDecode", "/JPXDecode"}
)


@dataclass(slots=True)
class ImageCleaning:
    """What the image pass did.

    Attributes:
        removed: PHI-free names for the report.
        needles: identifying values found in image metadata and profiles.
        content: digests of kept streams whose raw bytes are the document's content, unchanged.
        jpegs: digests of the (cleaned) DCT image streams: their pixel data is content too.
    """

    removed: list[str] = field(default_factory=list)
    needles: set[bytes] = field(default_factory=set)
    content: set[bytes] = field(default_factory=set)
    jpegs: set[bytes] = field(default_factory=set)


def digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def clean_images(pdf: pikepdf.Pdf) -> ImageCleaning:
    """Clean every image and profile reachable from the catalog, in place."""
    result = ImageCleaning()
    for page in pdf.pages:
        _check_inline_images(page.obj)
        contents = page.obj.get("/Contents")
        for stream in contents.as_list() if isinstance(contents, Array) else [contents]:
            if isinstance(stream, Stream):
                result.content.add(digest(stream.read_raw_bytes()))
    for obj in walk(pdf.Root):
        if isinstance(obj, Array):
            _clean_colour_space(obj, result)
        elif isinstance(obj, Stream):
            _clean_stream(obj, result)
        elif isinstance(obj, Dictionary):
            _note_glyph_procedures(obj, result)
        if isinstance(obj, Dictionary | Stream):
            profile = obj.get("/DestOutputProfile")
            if isinstance(profile, Stream):
                _clean_profile(profile, result)
    return result


def _clean_stream(stream: pikepdf.Object, result: ImageCleaning) -> None:
    subtype = stream.get("/Subtype")
    if subtype == Name.Image:
        _clean_image(stream, result)
    elif subtype == Name.Form or stream.get("/PatternType") == 1:
        _check_inline_images(stream)
        result.content.add(digest(stream.read_raw_bytes()))


def _note_glyph_procedures(obj: pikepdf.Object, result: ImageCleaning) -> None:
    """Font programs and Type 3 glyph procedures are content: note them, check the latter."""
    for key in _FONT_FILES:
        program = obj.get(key)
        if isinstance(program, Stream):
            result.content.add(digest(program.read_raw_bytes()))
    procedures = obj.get("/CharProcs") if obj.get("/Subtype") == Name.Type3 else None
    if isinstance(procedures, Dictionary):
        for glyph in procedures.values():
            if isinstance(glyph, Stream):
                _check_inline_images(glyph)
                result.content.add(digest(glyph.read_raw_bytes()))


def _clean_image(image: pikepdf.Object, result: ImageCleaning) -> None:
    chain = filters(image)
    if not set(chain) <= _IMAGE_FILTERS:
        raise RefusedError("PDF image uses a filter picsync does not know")
    if "/DCTDecode" in chain:
        _clean_dct(image, chain, result)
    elif "/JPXDecode" in chain:
        if chain != ["/JPXDecode"]:
            raise RefusedError("PDF JPEG 2000 image has an unsupported filter chain")
        cleaned = clean_jpx(image.read_raw_bytes())
        result.needles |= cleaned.needles
        if cleaned.changed:
            image.write(cleaned.data, filter=Name.JPXDecode, decode_parms=None)
            result.removed.append("metadata in images")
    else:
        if "/JBIG2Decode" in chain:
            _check_jbig2(image, chain)
        result.content.add(digest(image.read_raw_bytes()))  # samples, copied as they are


def _check_jbig2(image: pikepdf.Object, chain: list[str]) -> None:
    if chain != ["/JBIG2Decode"]:
        raise RefusedError("PDF JBIG2 image has an unsupported filter chain")
    check_jbig2(image.read_raw_bytes())
    parms = image.get("/DecodeParms")
    shared = parms.get("/JBIG2Globals") if isinstance(parms, Dictionary) else None
    if isinstance(shared, Stream):
        data = decode(shared)
        if data is None:
            raise RefusedError("PDF JBIG2 shared symbols cannot be read within limits")
        check_jbig2(data)


def _clean_dct(image: pikepdf.Object, chain: list[str], result: ImageCleaning) -> None:
    if chain[-1] != "/DCTDecode" or any(name != "/FlateDecode" for name in chain[:-1]):
        raise RefusedError("PDF JPEG image has an unsupported filter chain")
    parms = image.get("/DecodeParms")
    parm_list = parms.as_list() if isinstance(parms, Array) else [parms] * len(chain)
    if len(chain) > 1 and any(isinstance(p, Dictionary) for p in parm_list[:-1]):
        raise RefusedError("PDF JPEG image has an unsupported filter chain")
    data = image.read_raw_bytes()
    for _ in chain[:-1]:
        data = _inflate(data)
    cleaned = clean_jpeg(data)
    result.needles |= cleaned.needles
    if cleaned.changed or len(chain) > 1:
        dct_parms = parm_list[-1] if parm_list and isinstance(parm_list[-1], Dictionary) else None
        image.write(cleaned.data, filter=Name.DCTDecode, decode_parms=dct_parms)
    if cleaned.changed:
        header = data[: data.find(b"\xff\xda")]
        exif = b"\xff\xe1" in header and b"Exif\x00" in header
        result.removed.append("EXIF in images" if exif else "metadata in images")
    result.jpegs.add(digest(cleaned.data))


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, _JPEG_LIMIT)
    except zlib.error as exc:
        raise RefusedError("PDF JPEG image data cannot be unwrapped") from exc
    if inflater.unconsumed_tail:
        raise RefusedError("PDF JPEG image is too large")
    return out


def _clean_colour_space(array: pikepdf.Object, result: ImageCleaning) -> None:
    items = array.as_list()
    if len(items) >= 2 and items[0] == Name.ICCBased and isinstance(items[1], Stream):
        _clean_profile(items[1], result)


def _clean_profile(stream: pikepdf.Object, result: ImageCleaning) -> None:
    profile = decode(stream)
    if profile is None:
        raise RefusedError("PDF colour profile cannot be read within limits")
    cleaned = sanitise_icc(profile)
    if cleaned != profile:
        stream.write(zlib.compress(cleaned, 9), filter=Name.FlateDecode, decode_parms=None)
        result.removed.append("ICC profile text")


def _check_inline_images(holder: pikepdf.Object) -> None:
    """Refuse an inline JPEG that carries metadata in a page's (or a form's) content."""
    contents = holder if isinstance(holder, Stream) else holder.get("/Contents")
    pieces = contents.as_list() if isinstance(contents, Array) else [contents]
    for piece in pieces:
        if isinstance(piece, Stream) and decode(piece) is None:
            raise RefusedError("PDF page content cannot be decoded within limits")
    try:
        found = pikepdf.parse_content_stream(holder, "BI ID EI")
    except pikepdf.PdfError as exc:
        raise RefusedError("PDF page content does not parse") from exc
    for instruction in found:
        if not isinstance(instruction, pikepdf.ContentStreamInlineImage):
            continue
        inline = instruction.iimage
        if not any(name in ("/DCTDecode", "/DCT") for name in inline.filters):
            continue
        # The white space before EI delimits the data; qpdf hands it over with the image.
        if clean_jpeg(inline.read_raw_bytes().rstrip(_PDF_WHITESPACE)).changed:
            raise RefusedError(
                "PDF page has an inline JPEG image carrying metadata; picsync does not "
                "rewrite page content to clean it"
            )
