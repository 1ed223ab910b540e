"""Pure: PDF de-identification by a full rewrite with pikepdf (qpdf); page content is untouched.

deid.md §2.5 and rule 11. The file is read whole (at most ``MAX_PDF`` bytes) and opened without
repair: a PDF whose cross-reference data is broken or that ends early (no ``%%EOF`` near its end)
is refused, and so is one that qpdf warns about while it is read or rewritten (a repaired file
might not show what its author saw). Encrypted PDFs are refused: picsync cannot see inside them.

Then ``pdf_clean`` cuts the object graph down to what draws the pages, ``pdf_images`` cleans the
images and colour profiles that remain, and qpdf writes a new file holding only the objects that
are still referenced (old revisions and orphans vanish), with object streams regenerated, stream
data copied byte for byte (never decoded, re-encoded or compressed), no linearization, and a new
/ID digested from the new content (the original /ID is deleted first: qpdf would keep half of it).
``pdf_verify`` re-opens and re-scans the result before any byte reaches ``dst``.

The capture time (``/Info /CreationDate``, else the XMP creation date) goes to the report only.
The OCR text layer and everything a page draws are content and stay as they are.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import BinaryIO

import pikepdf
from pikepdf import Dictionary, Name, Stream

from picsync.errors import RefusedError
from picsync.scrub.exif import read_xmp
from picsync.scrub.pdf_clean import clean_structure
from picsync.scrub.pdf_graph import decode, open_pdf
from picsync.scrub.pdf_images import clean_images
from picsync.scrub.pdf_needles import (
    dropped_needles,
    earlier_revisions,
    kept_graph,
    unreferenced_objects,
)
from picsync.scrub.pdf_verify import Expected, page_contents, verify_pdf
from picsync.scrub.report import ScrubOptions, ScrubReport

__all__ = ["MAX_PDF", "scrub"]

MAX_PDF = 256 << 20  # a 300-page colour scan; anything larger is refused, not read
_EOF_WINDOW = 1024  # qpdf, like Acrobat, looks for the end of file this far from the end

# pikepdf raises PdfError (and subclasses) for what qpdf rejects; its bindings raise these when
# an object is not of the type the structure requires (a number where a dictionary must be).
_UNPARSEABLE = (pikepdf.PdfError, pikepdf.ForeignObjectError, TypeError, ValueError, OverflowError)


def scrub(src: BinaryIO, dst: BinaryIO, options: ScrubOptions) -> ScrubReport:
    """Write the de-identified PDF to ``dst``; raise ``RefusedError`` if that cannot be done.

    ``options.keep_capture_date`` does not apply: a PDF carries no capture date picsync writes.
    """
    del options
    data = _read_whole(src)
    try:
        output, report = _rewrite(data)
    except RefusedError:
        raise
    except _UNPARSEABLE as exc:  # including qpdf's refusal to open a damaged file unrepaired
        raise RefusedError("PDF is damaged or does not parse completely") from exc
    dst.write(output)
    return report


def _read_whole(src: BinaryIO) -> bytes:
    data = src.read(MAX_PDF + 1)
    if len(data) > MAX_PDF:
        raise RefusedError(f"PDF is larger than {MAX_PDF >> 20} MiB")
    if not data.startswith(b"%PDF-"):
        raise RefusedError("not a PDF (no %PDF- header)")
    if data.rfind(b"%%EOF", max(0, len(data) - _EOF_WINDOW)) < 0:
        raise RefusedError("PDF is truncated (no end-of-file marker at its end)")
    return data


def _rewrite(data: bytes) -> tuple[bytes, ScrubReport]:
    try:
        with open_pdf(data) as pdf:
            if pdf.is_encrypted:
                raise RefusedError("PDF is encrypted")
            original_id = _original_id(pdf)
            capture_time = _capture_time(pdf)
            pages = page_contents(pdf)
            history, revisions = earlier_revisions(data, pdf)
            orphans = unreferenced_objects(pdf)
            cleaning = clean_structure(pdf)
            images = clean_images(pdf)
            kept = kept_graph(pdf)
            needles = dropped_needles(pdf, cleaning.dropped, kept)
            needles |= (history - kept.strings) | images.needles
            output = _save(pdf)
            if pdf.get_warnings():
                raise RefusedError("PDF is damaged (qpdf had to repair it while reading)")
    except pikepdf.PasswordError as exc:
        raise RefusedError("PDF is encrypted with a password") from exc
    if output == data:
        original_id = frozenset()  # picsync's own output again: its ID is a digest of itself
    expected = Expected(pages, original_id, frozenset(images.content), frozenset(images.jpegs))
    verify_pdf(output, expected, needles)
    removed = cleaning.removed + images.removed
    if revisions:
        removed.append("earlier revisions")
    if orphans:
        removed.append("unreferenced objects")
    return output, ScrubReport(
        format="pdf", removed=tuple(dict.fromkeys(removed)), capture_time=capture_time
    )


def _save(pdf: pikepdf.Pdf) -> bytes:
    out = io.BytesIO()
    pdf.save(
        out,
        preserve_pdfa=False,
        fix_metadata_version=False,
        # Stream data is copied exactly as it is: never decoded, never compressed afresh (so
        # an uncompressed page stays byte for byte the same; object streams stay plain too).
        compress_streams=False,
        stream_decode_level=pikepdf.StreamDecodeLevel.none,
        object_stream_mode=pikepdf.ObjectStreamMode.generate,
        normalize_content=False,
        linearize=False,
        recompress_flate=False,
        deterministic_id=True,  # a digest of the new content: same input, same output
    )
    return out.getvalue()


def _original_id(pdf: pikepdf.Pdf) -> frozenset[bytes]:
    ids = pdf.trailer.get("/ID")
    if not isinstance(ids, pikepdf.Array):
        return frozenset()
    return frozenset(bytes(part) for part in ids.as_list() if isinstance(part, pikepdf.String))


_PDF_DATE = re.compile(
    r"D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?\s*(?:(Z)|([+-])(\d{2})'?(\d{2})?'?)?"
)


def parse_pdf_date(text: str) -> str | None:
    """A PDF date string (``D:YYYYMMDDHHmmSSOHH'mm'``) as ISO 8601, or None if it is not one."""
    match = _PDF_DATE.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, zulu, sign, off_h, off_m = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
        )
        if zulu:
            moment = moment.replace(tzinfo=UTC)
        elif sign:
            offset = timedelta(hours=int(off_h), minutes=int(off_m or 0))
            moment = moment.replace(tzinfo=timezone(-offset if sign == "-" else offset))
    except ValueError:
        return None
    return moment.isoformat()


def _capture_time(pdf: pikepdf.Pdf) -> str | None:
    info = pdf.trailer.get("/Info")
    created = info.get("/CreationDate") if isinstance(info, Dictionary) else None
    if isinstance(created, pikepdf.String):
        parsed = parse_pdf_date(str(created))
        if parsed is not None:
            return parsed
    metadata = pdf.Root.get("/Metadata")
    if isinstance(metadata, Stream) and metadata.get("/Subtype") in (Name.XML, None):
        packet = decode(metadata, 16 << 20)
        if packet:
            return read_xmp(packet).capture_time
    return None
