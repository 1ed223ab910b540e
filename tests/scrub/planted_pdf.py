"""Test helpers: PDFs built with pikepdf that carry planted FAKE identifiers in every place
deid.md §2.5 lists, and structure walkers for assertions. Nothing binary is checked in.

``planted_pdf()`` builds a two-page "scan": /Info with every standard and a custom key, XMP, an
attachment (which pikepdf also lists in /AF), outlines, a document-level and an open-action
script, catalog/page /AA and /PieceInfo, annotations with an author and an appearance stream, a
link with a URI, page thumbnails, page labels, a structure tree with alt text, a form XObject
with its own XMP, DCT images built from ``planted_jpeg`` (EXIF, GPS, serials, XMP, ICC), an
/ICCBased colour space and an output intent carrying ``planted_icc``, and a JPEG 2000 image with
a comment; saved with object streams. ``with_incremental_update`` appends a hand-made update
that redefines /Info under the same object number, as editors (and exiftool) do.
"""

from __future__ import annotations

import io
import re
import zlib

import pikepdf
from pikepdf import Array, Dictionary, Name, String
from PIL import Image

from tests.scrub.planted import PLANTED, planted_icc, planted_jpeg, sample_image

PDF_PLANTED: dict[str, str] = {
    "Author": "Jane Testpatient",
    "Title": "Referral MRN-0042-FAKE dermatology",
    "Subject": "Subject Fakesubject Clinic",
    "Keywords": "KW-FAKE-lesion-0042",
    "Creator": "ScanFake Station SN-FAKE-7781",
    "Producer": "FakePDF Producer 3.1 WS-FAKE",
    "Custom": "Custom Info Fakevalue",
    "XmpCreator": "XMP dc creator Fakeperson",
    "XmpTool": "XMP CreatorTool FakeScan 9",
    "XmpDocId": "uuid:FAKE-DOC-ID-0000-4242",
    "AttachmentName": "Testpatient_Jane_notes.txt",
    "AttachmentBody": "Attachment body MRN-0042-FAKE notes",
    "AttachmentDesc": "Attachment description Fakedesc",
    "Outline": "Outline Bookmark Testpatient",
    "Javascript": "app.alert('JS Fakealert Testpatient')",
    "OpenActionJs": "this.print OpenAction Fakeprint",
    "AnnotAuthor": "Dr Annotfake Clinician",
    "AnnotText": "Annotation note Fakecontent",
    "AppearanceText": "Appearance Fakestamp",
    "LinkUri": "https://fake.example/patient/FAKE-URI-77",
    "PieceInfo": "PieceInfo Fakeapp private",
    "PageLabel": "Pagelabel-Fakeprefix-",
    "AltText": "Alt text Fakefigure",
    "FormXmp": "Form XObject XMP Fakeform",
    "OutputIntentInfo": "Output intent info Fakeprinter",
    "Trailing": "Trailing garbage Fakedata",
    "JpxComment": "JPX COM Fakecomment 2000",
    "ThumbNote": "THUMB-FAKE-PIXELS",
}
OLD_INFO = {"Author": "Old Author Fakeolder", "Title": "Old Title MRN-0099-FAKE"}
TEXT_CONTENT = b"BT /F1 12 Tf 72 720 Td (Scanned page) Tj ET\n"


def all_planted() -> dict[str, str]:
    """Every value a planted PDF carries: its own and those of the JPEG images inside it."""
    jpeg = {k: v for k, v in PLANTED.items() if not k.startswith("Png")}
    return {**jpeg, **PDF_PLANTED, **{f"Old{k}": v for k, v in OLD_INFO.items()}}


def _xmp(text: str) -> bytes:
    return (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<dc:description>{text}</dc:description></rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def dct_image(pdf: pikepdf.Pdf, jpeg: bytes, mode: str = "RGB") -> pikepdf.Object:
    with Image.open(io.BytesIO(jpeg)) as image:
        width, height = image.size
    space = {"RGB": Name.DeviceRGB, "L": Name.DeviceGray, "CMYK": Name.DeviceCMYK}[mode]
    image_obj = pikepdf.Stream(pdf, jpeg)
    image_obj.Type, image_obj.Subtype = Name.XObject, Name.Image
    image_obj.Width, image_obj.Height = width, height
    image_obj.ColorSpace, image_obj.BitsPerComponent = space, 8
    image_obj.Filter = Name.DCTDecode
    return image_obj


def jpx_image(pdf: pikepdf.Pdf) -> pikepdf.Object:
    out = io.BytesIO()
    sample_image("RGB", (32, 24)).save(
        out, "JPEG2000", irreversible=False, comment=PDF_PLANTED["JpxComment"]
    )
    image = pikepdf.Stream(pdf, out.getvalue())
    image.Type, image.Subtype = Name.XObject, Name.Image
    image.Width, image.Height, image.Filter = 32, 24, Name.JPXDecode
    return image


def flate_image(pdf: pikepdf.Pdf, size: tuple[int, int] = (16, 12)) -> pikepdf.Object:
    pixels = sample_image("RGB", size).tobytes()
    image = pikepdf.Stream(pdf, zlib.compress(pixels))
    image.Type, image.Subtype = Name.XObject, Name.Image
    image.Width, image.Height = size
    image.ColorSpace, image.BitsPerComponent = Name.DeviceRGB, 8
    image.Filter = Name.FlateDecode
    return image


def _font(pdf: pikepdf.Pdf) -> pikepdf.Object:
    return pdf.make_indirect(
        Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica)
    )


def planted_pdf(*, object_streams: bool = True, jpx: bool = True) -> bytes:
    """The two-page planted PDF described in the module docstring, as bytes."""
    pdf = pikepdf.new()
    font = _font(pdf)
    icc = pikepdf.Stream(pdf, planted_icc())
    icc.N = 3
    photo = dct_image(pdf, planted_jpeg())
    gray = dct_image(pdf, planted_jpeg("L", progressive=True), "L")
    gray.ColorSpace = Name.DeviceGray
    photo.ColorSpace = Array([Name.ICCBased, icc])
    form = pikepdf.Stream(pdf, b"q 32 0 0 24 0 0 cm /Gray Do Q\n")
    form.Type, form.Subtype, form.BBox = Name.XObject, Name.Form, Array([0, 0, 32, 24])
    form.Resources = Dictionary(XObject=Dictionary(Gray=gray))
    form.Metadata = pikepdf.Stream(pdf, _xmp(PDF_PLANTED["FormXmp"]))
    form.PieceInfo = Dictionary(App=Dictionary(Private=String(PDF_PLANTED["PieceInfo"])))
    xobjects = Dictionary(Photo=photo, Form=form, Flat=flate_image(pdf))
    if jpx:
        xobjects.Jpx = jpx_image(pdf)
    page_one = (
        TEXT_CONTENT + b"q 320 0 0 240 72 400 cm /Photo Do Q q 1 0 0 1 72 100 cm /Form Do Q\n"
        b"q 16 0 0 12 400 100 cm /Flat Do Q"
        + (b" q 32 0 0 24 400 200 cm /Jpx Do Q" if jpx else b"")
    )
    for content in (page_one, TEXT_CONTENT):
        page = pdf.add_blank_page(page_size=(612, 792))
        page.obj.Contents = pdf.make_stream(content)
        page.obj.Resources = Dictionary(Font=Dictionary(F1=font), XObject=xobjects)
        page.obj.Thumb = pdf.make_stream(PDF_PLANTED["ThumbNote"].encode() * 4)
        page.obj.PieceInfo = Dictionary(App=Dictionary(Private=String(PDF_PLANTED["PieceInfo"])))
        page.obj.AA = Dictionary(O=Dictionary(S=Name.JavaScript, JS=String("app.beep(0)")))
        page.obj.LastModified = String("D:20310203040506")
        page.obj.StructParents = 0
    _plant_document(pdf, font, icc)
    out = io.BytesIO()
    mode = pikepdf.ObjectStreamMode.generate if object_streams else pikepdf.ObjectStreamMode.disable
    pdf.save(out, object_stream_mode=mode, fix_metadata_version=False)
    return out.getvalue()


def _plant_document(pdf: pikepdf.Pdf, font: pikepdf.Object, icc: pikepdf.Object) -> None:
    first, second = pdf.pages[0].obj, pdf.pages[1].obj
    with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as meta:
        meta["dc:creator"] = [PDF_PLANTED["XmpCreator"]]
        meta["xmp:CreatorTool"] = PDF_PLANTED["XmpTool"]
        meta["xmpMM:DocumentID"] = PDF_PLANTED["XmpDocId"]
    info = pdf.docinfo
    for key in ("Author", "Title", "Subject", "Keywords", "Creator", "Producer"):
        info[Name("/" + key)] = PDF_PLANTED[key]
    info[Name.PatientNote] = PDF_PLANTED["Custom"]
    info[Name.CreationDate] = "D:20310203040507+09'30'"
    info[Name.ModDate] = "D:20310204050607Z"
    pdf.attachments[PDF_PLANTED["AttachmentName"]] = pikepdf.AttachedFileSpec(
        pdf,
        PDF_PLANTED["AttachmentBody"].encode() * 3,
        description=PDF_PLANTED["AttachmentDesc"],
        filename=PDF_PLANTED["AttachmentName"],
    )
    with pdf.open_outline() as outline:
        outline.root.append(pikepdf.OutlineItem(PDF_PLANTED["Outline"], 0))
    script = pdf.make_stream(PDF_PLANTED["Javascript"].encode())
    pdf.Root.Names.JavaScript = Dictionary(
        Names=Array([String("greeting"), Dictionary(S=Name.JavaScript, JS=script)])
    )
    pdf.Root.OpenAction = Dictionary(S=Name.JavaScript, JS=String(PDF_PLANTED["OpenActionJs"]))
    pdf.Root.AA = Dictionary(WC=Dictionary(S=Name.JavaScript, JS=String("app.beep(1)")))
    pdf.Root.PieceInfo = Dictionary(App=Dictionary(Private=String(PDF_PLANTED["PieceInfo"])))
    pdf.Root.PageLabels = Dictionary(
        Nums=Array([0, Dictionary(S=Name.D, P=String(PDF_PLANTED["PageLabel"]))])
    )
    figure = Dictionary(S=Name.Figure, Alt=String(PDF_PLANTED["AltText"]), Pg=first)
    pdf.Root.StructTreeRoot = pdf.make_indirect(
        Dictionary(Type=Name.StructTreeRoot, K=Array([figure]))
    )
    pdf.Root.MarkInfo = Dictionary(Marked=True)
    pdf.Root.OutputIntents = Array(
        [
            Dictionary(
                Type=Name.OutputIntent,
                S=Name.GTS_PDFA1,
                OutputConditionIdentifier=String("sRGB IEC61966-2.1"),
                Info=String(PDF_PLANTED["OutputIntentInfo"]),
                DestOutputProfile=icc,
            )
        ]
    )
    appearance = pdf.make_stream(
        b"BT /F1 9 Tf 2 2 Td (" + PDF_PLANTED["AppearanceText"].encode() + b") Tj ET"
    )
    appearance.Type, appearance.Subtype = Name.XObject, Name.Form
    appearance.BBox = Array([0, 0, 100, 20])
    appearance.Resources = Dictionary(Font=Dictionary(F1=font))
    note = Dictionary(
        Type=Name.Annot,
        Subtype=Name.FreeText,
        Rect=Array([72, 600, 172, 620]),
        T=String(PDF_PLANTED["AnnotAuthor"]),
        Contents=String(PDF_PLANTED["AnnotText"]),
        AP=Dictionary(N=appearance),
        P=first,
        M=String("D:20310203040506"),
    )
    link = Dictionary(
        Type=Name.Annot,
        Subtype=Name.Link,
        Rect=Array([72, 500, 172, 520]),
        A=Dictionary(S=Name.URI, URI=String(PDF_PLANTED["LinkUri"])),
    )
    first.Annots = pdf.make_indirect(Array([pdf.make_indirect(note), pdf.make_indirect(link)]))
    second.Annots = Array([pdf.make_indirect(note)])
    del icc, font


def with_incremental_update(data: bytes, *, trailing: bool = True) -> bytes:
    """``data`` plus a hand-made incremental update: /Info is first given the OLD_INFO values
    (a first update) and then redefined under the same object number (a second update), so the
    planted old values are only in bytes the latest revision no longer refers to."""
    for values in (OLD_INFO, {"Author": "Replacement", "Title": "Replacement title"}):
        data = _append_info(data, values)
    if trailing:
        data += b"\n" + PDF_PLANTED["Trailing"].encode() + b"\n"
    return data


def _append_info(data: bytes, values: dict[str, str]) -> bytes:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        info_number = pdf.trailer.Info.objgen[0]
        root_number = pdf.Root.objgen[0]
        size = int(pdf.trailer.Size)
        ids = pdf.trailer.ID
        id_hex = "".join(f"<{bytes(part).hex()}>" for part in ids)
    startxref = int(re.findall(rb"startxref\s+(\d+)", data)[-1])
    fields = " ".join(f"/{key} ({value})" for key, value in values.items())
    body = f"{info_number} 0 obj\n<< {fields} >>\nendobj\n".encode()
    offset = len(data) + 1
    update = b"\n" + body
    xref_offset = len(data) + len(update)
    update += (
        f"xref\n0 1\n0000000000 65535 f \n{info_number} 1\n{offset:010d} 00000 n \n"
        f"trailer\n<< /Size {size} /Root {root_number} 0 R /Info {info_number} 0 R "
        f"/Prev {startxref} /ID [{id_hex}] >>\nstartxref\n{xref_offset}\n%%EOF\n"
    ).encode()
    return data + update


def make_pdf(content: bytes = TEXT_CONTENT) -> bytes:
    """A plain one-page PDF (no metadata of any kind) drawing ``content``."""
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=(612, 792))
    page.obj.Contents = pdf.make_stream(content)
    page.obj.Resources = Dictionary(Font=Dictionary(F1=_font(pdf)))
    out = io.BytesIO()
    pdf.save(out, deterministic_id=True)
    return out.getvalue()
