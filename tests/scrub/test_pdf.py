"""PDF de-identification: identifiers gone in every revision; page content, pixels and colour kept;
damaged, encrypted and form PDFs refused; corrupt input never crashes or hangs."""

from __future__ import annotations

import io
import re
import warnings
import zlib
from pathlib import Path

import pikepdf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pikepdf import Array, Dictionary, Name, String
from PIL import Image

from picsync.errors import RefusedError
from picsync.scrub import pdf as pdf_scrubber
from picsync.scrub.jpeg2000 import clean_jpx
from picsync.scrub.pdf import parse_pdf_date
from picsync.scrub.report import ScrubOptions
from picsync.scrub.verify import find_leaks
from tests.scrub.planted import (
    PLANTED,
    exiftool_report,
    icc_tags,
    make_jpeg,
    planted_hits,
    planted_jpeg,
    sample_image,
    scrubbed,
)
from tests.scrub.planted_pdf import (
    OLD_INFO,
    PDF_PLANTED,
    all_planted,
    dct_image,
    make_pdf,
    planted_pdf,
    with_incremental_update,
)

pytestmark = pytest.mark.filterwarnings("ignore:Image appears to be a malformed MPO")


@pytest.fixture(scope="module")
def planted() -> bytes:
    return with_incremental_update(planted_pdf())


@pytest.fixture(scope="module")
def cleaned(planted: bytes) -> tuple[bytes, tuple[str, ...]]:
    output, report = scrubbed(planted)
    return output, report.removed


def _open(data: bytes) -> pikepdf.Pdf:
    return pikepdf.open(io.BytesIO(data))


def _images(data: bytes) -> dict[tuple[int, int, str], bytes]:
    """(width, height, filter) -> raw bytes of every image XObject, in pages and forms."""
    found = {}
    with _open(data) as pdf:
        for obj in pdf.objects:
            if isinstance(obj, pikepdf.Stream) and obj.get("/Subtype") == Name.Image:
                key = (int(obj.Width), int(obj.Height), str(obj.get("/Filter")))
                found[key] = obj.read_raw_bytes()
    return found


def _pixels(jpeg_or_jpx: bytes) -> tuple[str, tuple[int, int], bytes]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(io.BytesIO(jpeg_or_jpx)) as image:
            image.load()
            return image.mode, image.size, image.tobytes()


def test_every_planted_identifier_is_gone(
    planted: bytes, cleaned: tuple[bytes, tuple[str, ...]], tmp_path: Path
) -> None:
    # The oracles can fail: the input carries every value the output must not.
    assert set(planted_hits(planted, all_planted())) == set(all_planted())
    before = exiftool_report(planted, tmp_path, "in.pdf")
    assert PDF_PLANTED["XmpCreator"] in before and "Replacement" in before

    output, removed = cleaned

    assert planted_hits(output, all_planted()) == []
    assert find_leaks(output, [value.encode() for value in all_planted().values()]) == []
    after = exiftool_report(output, tmp_path, "out.pdf").lower()
    assert [k for k, v in all_planted().items() if v.lower() in after] == []
    assert "replacement" not in after  # the latest /Info went too
    for name in (
        "Info",
        "XMP",
        "attachments",
        "associated files",
        "JavaScript",
        "annotations",
        "outlines",
        "thumbnails",
        "EXIF in images",
        "metadata in images",
        "ICC profile text",
        "earlier revisions",
        "open action",
        "additional actions",
        "private application data",
        "structure tree",
        "page labels",
        "document ID",
    ):
        assert name in removed


def test_structure_holds_only_what_draws_the_pages(cleaned: tuple[bytes, tuple[str, ...]]) -> None:
    output, _ = cleaned
    with _open(output) as pdf:
        assert set(pdf.trailer.keys()) <= {"/Root", "/Size", "/ID", "/Type", "/W", "/Index"} | {
            "/Filter",
            "/DecodeParms",
            "/Length",
        }
        assert set(pdf.Root.keys()) == {"/Type", "/Pages", "/OutputIntents"}
        assert pdf.Root.OutputIntents[0].keys() == {
            "/Type",
            "/S",
            "/OutputConditionIdentifier",
            "/DestOutputProfile",
        }
        for page in pdf.pages:
            assert set(page.obj.keys()) == {"/Type", "/Parent", "/Resources", "/MediaBox"} | {
                "/Contents"
            }
        unparsed = b"".join(obj.unparse() for obj in pdf.objects if obj is not None)
    for key in (b"/Metadata", b"/PieceInfo", b"/Annots", b"/AF", b"/Names", b"/AA", b"/Thumb"):
        assert key not in unparsed


def test_page_content_streams_are_unchanged(
    planted: bytes, cleaned: tuple[bytes, tuple[str, ...]]
) -> None:
    output, _ = cleaned
    with _open(planted) as before, _open(output) as after:
        assert len(before.pages) == len(after.pages) == 2
        for old, new in zip(before.pages, after.pages, strict=True):
            assert new.obj.Contents.read_raw_bytes() == old.obj.Contents.read_raw_bytes()
            assert new.obj.Contents.read_bytes() == old.obj.Contents.read_bytes()
            assert new.mediabox == old.mediabox


def test_images_lose_metadata_and_keep_pixels(
    planted: bytes, cleaned: tuple[bytes, tuple[str, ...]]
) -> None:
    before, after = _images(planted), _images(cleaned[0])
    assert before.keys() == after.keys()
    for key, data in before.items():
        if key[2] in ("/DCTDecode", "/JPXDecode"):
            assert _pixels(after[key]) == _pixels(data)
            assert planted_hits(data, all_planted())  # the input image carried metadata
            assert planted_hits(after[key], all_planted()) == []
        else:
            assert after[key] == data  # samples copied byte for byte
    photo = after[(64, 48, "/DCTDecode")]
    with Image.open(io.BytesIO(photo)) as image:
        assert dict(image.getexif()) == {}
        assert "xmp" not in image.info and "comment" not in image.info


def test_icc_colorimetry_is_kept(planted: bytes, cleaned: tuple[bytes, tuple[str, ...]]) -> None:
    def profile(data: bytes) -> bytes:
        with _open(data) as pdf:
            return bytes(pdf.Root.OutputIntents[0].DestOutputProfile.read_bytes())

    old, new = icc_tags(profile(planted)), icc_tags(profile(cleaned[0]))
    for tag in (b"rXYZ", b"gXYZ", b"bXYZ", b"wtpt", b"rTRC", b"gTRC", b"bTRC"):
        assert new[tag] == old[tag]
    assert b"dmnd" not in new and b"mmod" not in new


def test_old_revisions_vanish(planted: bytes, cleaned: tuple[bytes, tuple[str, ...]]) -> None:
    with _open(planted) as pdf:
        assert str(pdf.docinfo.Author) == "Replacement"  # the old values are shadowed...
    for value in OLD_INFO.values():
        assert value.encode() in planted  # ...but still in the file's bytes
        assert value.encode() not in cleaned[0]
    assert cleaned[0].count(b"%%EOF") == 1


@pytest.mark.parametrize("object_streams", [True, False])
def test_capture_time_goes_to_the_report_not_the_file(object_streams: bool) -> None:
    output, report = scrubbed(planted_pdf(object_streams=object_streams, jpx=False))
    assert report.capture_time == "2031-02-03T04:05:07+09:30"
    assert b"2031" not in output and planted_hits(output, all_planted()) == []


def test_pdf_dates_parse() -> None:
    assert parse_pdf_date("D:20310203040507+09'30'") == "2031-02-03T04:05:07+09:30"
    assert parse_pdf_date("D:20310203040507Z") == "2031-02-03T04:05:07+00:00"
    assert parse_pdf_date("D:2031") == "2031-01-01T00:00:00"
    assert parse_pdf_date("D:20311399") is None
    assert parse_pdf_date("yesterday") is None


def test_document_id_is_new_and_output_is_canonical(
    planted: bytes, cleaned: tuple[bytes, tuple[str, ...]]
) -> None:
    output, _ = cleaned
    with _open(planted) as before, _open(output) as after:
        old = {bytes(part) for part in before.trailer.ID}
        new = {bytes(part) for part in after.trailer.ID}
    assert not old & new
    assert scrubbed(planted)[0] == output  # same input, same bytes
    again, report = scrubbed(output)
    assert again == output
    assert report.removed == ("document ID",)


def test_dct_image_behind_flate_is_unwrapped_and_cleaned() -> None:
    pdf = pikepdf.new()
    page = pdf.add_blank_page()
    image = dct_image(pdf, planted_jpeg())
    image.write(zlib.compress(planted_jpeg()), filter=Array([Name.FlateDecode, Name.DCTDecode]))
    page.obj.Resources = Dictionary(XObject=Dictionary(Im=image))
    page.obj.Contents = pdf.make_stream(b"q 64 0 0 48 0 0 cm /Im Do Q")
    out = io.BytesIO()
    pdf.save(out)
    output, report = scrubbed(out.getvalue())
    assert "EXIF in images" in report.removed
    cleaned = _images(output)[(64, 48, "/DCTDecode")]
    assert _pixels(cleaned) == _pixels(planted_jpeg())
    assert planted_hits(output) == []


def test_a_clean_pdf_passes_through_with_its_content() -> None:
    source = make_pdf()
    output, report = scrubbed(source)
    assert set(report.removed) <= {"document ID"}
    with _open(output) as pdf:
        assert pdf.pages[0].obj.Contents.read_bytes().startswith(b"BT /F1 12 Tf")


def _with(mutate: object) -> bytes:
    pdf = pikepdf.new()
    page = pdf.add_blank_page()
    page.obj.Contents = pdf.make_stream(b"BT ET")
    assert callable(mutate)
    mutate(pdf, page.obj)
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def _refusal(data: bytes) -> str:
    with pytest.raises(RefusedError) as refused:
        scrubbed(data)
    message = str(refused.value)
    assert not any(value.lower() in message.lower() for value in all_planted().values())
    return message


def test_interactive_forms_are_refused_and_empty_ones_dropped() -> None:
    def form(pdf: pikepdf.Pdf, page: pikepdf.Object) -> None:
        field = pdf.make_indirect(
            Dictionary(
                Type=Name.Annot,
                Subtype=Name.Widget,
                FT=Name.Tx,
                T=String("patient"),
                V=String(PDF_PLANTED["Author"]),
                Rect=Array([0, 0, 100, 20]),
            )
        )
        page.Annots = Array([field])
        pdf.Root.AcroForm = Dictionary(Fields=Array([field]))

    assert "form fields" in _refusal(_with(form))

    def empty(pdf: pikepdf.Pdf, page: pikepdf.Object) -> None:
        pdf.Root.AcroForm = Dictionary(Fields=Array([]))

    output, report = scrubbed(_with(empty))
    assert "empty form" in report.removed and b"AcroForm" not in output


def test_inline_jpeg_with_metadata_is_refused_and_a_clean_one_kept() -> None:
    def inline(jpeg: bytes) -> bytes:
        content = b"q 8 0 0 8 0 0 cm BI /W 64 /H 48 /CS /RGB /BPC 8 /F /DCT ID "
        return make_pdf(content + jpeg + b" EI Q")

    assert "inline JPEG" in _refusal(inline(planted_jpeg(trailer=False)))
    clean = make_jpeg()
    output, _ = scrubbed(inline(clean))
    with _open(output) as pdf:
        assert clean in pdf.pages[0].obj.Contents.read_bytes()


def test_verification_refuses_a_value_repeated_where_it_is_kept() -> None:
    def repeat(pdf: pikepdf.Pdf, page: pikepdf.Object) -> None:
        pdf.docinfo[Name.Author] = PDF_PLANTED["Author"]
        page.Resources = Dictionary(
            ExtGState=Dictionary(
                G0=Dictionary(Type=Name.ExtGState, Note=String("Jane Testpatient"))
            )
        )

    assert "failed verification" in _refusal(_with(repeat))


def test_encrypted_pdfs_are_refused() -> None:
    for encryption in (
        pikepdf.Encryption(owner="owner-secret", user=""),
        pikepdf.Encryption(owner="owner-secret", user="user-secret"),
    ):
        pdf = pikepdf.new()
        pdf.add_blank_page()
        out = io.BytesIO()
        pdf.save(out, encryption=encryption)
        assert "encrypted" in _refusal(out.getvalue())


def test_damaged_and_truncated_pdfs_are_refused(planted: bytes) -> None:
    good = make_pdf()
    assert "truncated" in _refusal(good[: len(good) // 2])
    assert "truncated" in _refusal(good[:-10])
    assert "truncated" in _refusal(planted + b"\x00" * 2048)
    startxref = re.findall(rb"startxref\s+(\d+)", good)[-1]
    wrong = str(int(startxref) + 7).encode()
    assert "damaged" in _refusal(good.replace(b"startxref\n" + startxref, b"startxref\n" + wrong))
    with pytest.raises(RefusedError, match="not a PDF"):  # the format module checks by itself
        pdf_scrubber.scrub(io.BytesIO(b"%PDX-1.7\n" + good[9:]), io.BytesIO(), ScrubOptions())
    assert _refusal(b"%PDF-1.7\n" + b"garbage " * 100 + b"\n%%EOF\n")
    # A stream whose /Length is wrong: qpdf recovers it, and warns, so picsync refuses.
    length = re.search(rb"/Length (\d+)", good)
    assert length is not None
    bad_length = good.replace(length.group(), b"/Length " + str(int(length.group(1)) + 3).encode())
    assert "damaged" in _refusal(bad_length) or "parse" in _refusal(bad_length)


def test_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf_scrubber, "MAX_PDF", 1000)
    assert "larger than" in _refusal(make_pdf() + b" " * 1000)


with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Pillow warns about the planted (fake) MPO segment
    _SEEDS = [make_pdf(b"BT /F1 12 Tf 72 720 Td (Scan) Tj ET"), planted_pdf(object_streams=False)]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_corrupt_pdfs_never_crash_or_hang(data: st.DataObject) -> None:
    source = bytearray(data.draw(st.sampled_from(_SEEDS)))
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "truncate", "insert", "delete", "digit"]))
        pos = data.draw(st.integers(0, max(0, len(source) - 1)))
        if not source:
            break
        if kind == "flip":
            source[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "truncate":
            del source[pos:]
        elif kind == "insert":
            source[pos:pos] = data.draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del source[pos : pos + data.draw(st.integers(1, 16))]
        else:  # change a number: lengths, offsets, object numbers
            digits = [m.start() for m in re.finditer(rb"\d", bytes(source))]
            if digits:
                at = data.draw(st.sampled_from(digits))
                source[at] = ord(str(data.draw(st.integers(0, 9))))
    try:
        output, _ = scrubbed(bytes(source))
    except RefusedError:
        return
    with _open(output) as pdf:  # anything accepted re-opens as a clean PDF
        assert "/Info" not in pdf.trailer
    assert planted_hits(output, all_planted()) == []


def test_jpx_comment_and_boxes_are_dropped(
    planted: bytes, cleaned: tuple[bytes, tuple[str, ...]]
) -> None:
    before = _images(planted)[(32, 24, "/JPXDecode")]
    after = _images(cleaned[0])[(32, 24, "/JPXDecode")]
    assert PDF_PLANTED["JpxComment"].encode() in before
    assert PDF_PLANTED["JpxComment"].encode() not in after
    assert _pixels(after) == _pixels(before)


def test_annotation_author_is_gone_but_other_pages_keep_text(
    cleaned: tuple[bytes, tuple[str, ...]],
) -> None:
    output, _ = cleaned
    with _open(output) as pdf:
        for page in pdf.pages:
            assert "/Annots" not in page.obj
            assert b"Scanned page" in page.obj.Contents.read_bytes()
    assert PLANTED["Artist"].encode() not in output


def _jbig2_segment(number: int, kind: int, data: bytes) -> bytes:
    return number.to_bytes(4, "big") + bytes([kind, 0, 1]) + len(data).to_bytes(4, "big") + data


def test_jbig2_images_with_comment_segments_are_refused() -> None:
    page = _jbig2_segment(1, 48, bytes(19))
    comment = _jbig2_segment(2, 62, b"\x20\x00\x00\x00" + PDF_PLANTED["Author"].encode())

    def with_jbig2(data: bytes) -> bytes:
        def add(pdf: pikepdf.Pdf, page_obj: pikepdf.Object) -> None:
            image = pikepdf.Stream(pdf, data)
            image.Type, image.Subtype, image.Filter = Name.XObject, Name.Image, Name.JBIG2Decode
            image.Width, image.Height, image.BitsPerComponent = 8, 8, 1
            image.ColorSpace = Name.DeviceGray
            page_obj.Resources = Dictionary(XObject=Dictionary(Scan=image))

        return _with(add)

    output, _ = scrubbed(with_jbig2(page + _jbig2_segment(2, 49, b"")))
    assert page in output
    assert "extension" in _refusal(with_jbig2(page + comment))
    assert "truncated" in _refusal(with_jbig2(page[:-4]))


def test_uncompressed_content_and_samples_stay_byte_for_byte() -> None:
    # Pillow writes its page content and image samples without compression; qpdf must not
    # compress them on the way through (that would change the bytes the verifier compares).
    out = io.BytesIO()
    first, second = sample_image("RGB", (40, 30)), sample_image("L", (20, 10))
    first.save(out, "PDF", save_all=True, append_images=[second], author=PDF_PLANTED["Author"])
    output, report = scrubbed(out.getvalue())
    assert report.removed == ("Info",)  # Pillow writes no /ID
    with _open(out.getvalue()) as before, _open(output) as after:
        for old, new in zip(before.pages, after.pages, strict=True):
            assert new.obj.Contents.read_raw_bytes() == old.obj.Contents.read_raw_bytes()
            assert "/Filter" not in new.obj.Contents
    assert _images(output) == _images(out.getvalue())


def test_layers_keep_their_names_and_lose_creator_and_location_data() -> None:
    def layered(pdf: pikepdf.Pdf, page: pikepdf.Object) -> None:
        usage = Dictionary(CreatorInfo=Dictionary(Creator=String(PDF_PLANTED["Creator"])))
        layer = pdf.make_indirect(Dictionary(Type=Name.OCG, Name=String("Scan"), Usage=usage))
        config = Dictionary(Name=String(PDF_PLANTED["Subject"]), ON=Array([layer]))
        config.Creator = String(PDF_PLANTED["Producer"])
        pdf.Root.OCProperties = Dictionary(OCGs=Array([layer]), D=config)
        geo = Dictionary(Type=Name.Measure, Subtype=Name.GEO, GPTS=Array([52.1, 4.3]))
        scale = Dictionary(Type=Name.Measure, Subtype=Name.RL, R=String("1 mm = 1 mm"))
        page.Resources = Dictionary(
            XObject=Dictionary(Geo=pdf.make_stream(b"", Measure=geo), Ruler=flate(pdf, scale))
        )

    def flate(pdf: pikepdf.Pdf, measure: pikepdf.Object) -> pikepdf.Object:
        stream = pdf.make_stream(b"0 0 m")
        stream.Measure = measure
        return stream

    output, report = scrubbed(_with(layered))
    assert {"layer details", "geospatial data"} <= set(report.removed)
    with _open(output) as pdf:
        layer = pdf.Root.OCProperties.OCGs[0]
        assert str(layer.Name) == "Scan" and "/Usage" not in layer
        assert set(pdf.Root.OCProperties.D.keys()) == {"/ON"}
        xobjects = pdf.pages[0].obj.Resources.XObject
        assert "/Measure" not in xobjects.Geo and xobjects.Ruler.Measure.Subtype == Name.RL
    for key in ("Creator", "Subject", "Producer"):
        assert PDF_PLANTED[key].encode() not in output


def _jp2_box(kind: bytes, content: bytes) -> bytes:
    return (len(content) + 8).to_bytes(4, "big") + kind + content


def test_jpeg2000_boxes_and_comments_go_and_pixels_stay() -> None:
    out = io.BytesIO()
    sample_image("RGB", (32, 24)).save(
        out, "JPEG2000", irreversible=False, tile_size=(16, 16), comment=PDF_PLANTED["JpxComment"]
    )
    jp2 = out.getvalue()
    xml = _jp2_box(b"xml ", f"<note>{PDF_PLANTED['Author']}</note>".encode())
    xmp_uuid = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")
    xmp = _jp2_box(b"uuid", xmp_uuid + planted_xmp_packet())
    source = jp2 + xml + xmp
    cleaned = clean_jpx(source)
    assert cleaned.changed and _pixels(cleaned.data) == _pixels(jp2)
    assert planted_hits(cleaned.data, all_planted()) == []
    assert PDF_PLANTED["Author"].encode() in cleaned.needles
    assert not clean_jpx(cleaned.data).changed  # clean output is left as it is
    with pytest.raises(RefusedError, match="several codestreams"):
        clean_jpx(jp2 + _jp2_box(b"jp2c", b"\xff\x4f\xff\x51"))
    with pytest.raises(RefusedError):
        clean_jpx(jp2[: len(jp2) - 40])


def planted_xmp_packet() -> bytes:
    return f'<x:xmpmeta xmlns:x="adobe:ns:meta/">{PDF_PLANTED["XmpCreator"]}</x:xmpmeta>'.encode()


def test_a_dropped_dictionary_still_referenced_elsewhere_is_refused() -> None:
    def shared(pdf: pikepdf.Pdf, page: pikepdf.Object) -> None:
        info = pdf.make_indirect(Dictionary(Author=String(PDF_PLANTED["Author"])))
        pdf.trailer.Info = info
        page.Resources = Dictionary(Properties=Dictionary(P0=info))

    assert "failed verification" in _refusal(_with(shared))
