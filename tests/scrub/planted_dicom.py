"""Test helpers: DICOM files built with pydicom that carry planted FAKE identifiers in every place
deid.md §2.6 lists. Nothing binary is checked in.

``planted_dicom(kind)`` builds a VL Photographic image (or a multi-frame true colour Secondary
Capture) with identifiers in the patient, study, series, equipment and request attributes, other
patient IDs, descriptions and comments, dates and times, private tags (a string, a blob and a
private sequence), an overlay, file meta application entity titles, an ICC profile with device
text, anatomic region codes with a free-text meaning, and a preamble holding a TIFF header and
planted text. ``kind`` picks the encoding: native RGB in explicit or implicit VR little endian,
one JPEG baseline frame made by ``planted_jpeg`` (EXIF, GPS, serials, XMP), three such frames,
or a JPEG 2000 frame with a comment.
"""

from __future__ import annotations

import io

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    generate_uid,
)

from tests.scrub.planted import PLANTED, planted_icc, planted_jpeg, sample_image

DICOM_PLANTED: dict[str, str] = {
    "PatientName": "Testpatient^Jane",
    "PatientFamily": "Testpatient",
    "PatientID": "MRN-0042-FAKE",
    "PatientBirthDate": "19610704",
    "PatientAddress": "42 Fake Street Testville",
    "IssuerOfPatientID": "Fake Issuer Authority",
    "OtherPatientID": "OTHER-ID-FAKE-99",
    "InstitutionName": "Fake Dermatology Institute",
    "InstitutionAddress": "1 Clinic Road Fakeville",
    "ReferringPhysicianName": "Referrer^Fakedoc",
    "PerformingPhysicianName": "Performer^Fakesurgeon",
    "OperatorsName": "Operator^Fakenurse",
    "StationName": "DERM-CAM-FAKE-01",
    "DeviceSerialNumber": "SN-FAKE-7781",
    "Manufacturer": "FakeCam Medical",
    "ModelName": "FakeDerm 3000",
    "SoftwareVersions": "FakeSoft 1.2.3",
    "AccessionNumber": "ACC-FAKE-123456",
    "StudyID": "STUDY-FAKE-42",
    "StudyDescription": "Mole check Testpatient forearm",
    "SeriesDescription": "Series Fakedescription",
    "ImageComments": "Comment Fake lesion note",
    "RequestedProcedureID": "REQ-FAKE-555",
    "RequestingPhysician": "Requester^Fakeperson",
    "PrivateCreator": "FAKEVENDOR CORP",
    "PrivateValue": "Private Fakevalue",
    "PrivateBlob": "PRIVATE-BLOB-FAKE-BYTES",
    "PrivateSequence": "Private Sequence Fakename",
    "OverlayDescription": "Overlay Fake annotation",
    "SourceAE": "FAKE_AE_TITLE",
    "CodeMeaning": "Forearm Fakemeaning",
    "Preamble": "PREAMBLE Jane Fakepreamble",
    "StudyDate": "20310203",
    "AcquisitionDateTime": "20310203040507",
}
VL_PHOTOGRAPHIC = "1.2.840.10008.5.1.4.1.1.77.1.4"
MULTIFRAME_TRUE_COLOR = "1.2.840.10008.5.1.4.1.1.7.4"
SIZE = (64, 48)


def all_planted() -> dict[str, str]:
    """Every value a planted DICOM file carries: its own and those of its JPEG frames."""
    jpeg = {k: v for k, v in PLANTED.items() if not k.startswith("Png")}
    return {**jpeg, **DICOM_PLANTED}


def _pixels(frames: int = 1) -> bytes:
    return sample_image("RGB", SIZE).tobytes() * frames


def _jpeg_frames(count: int) -> list[bytes]:
    modes = [dict(), dict(progressive=True), dict(orientation=6)]
    return [planted_jpeg(**modes[index % 3]) for index in range(count)]  # type: ignore[arg-type]


def _j2k_frame() -> bytes:
    out = io.BytesIO()
    sample_image("RGB", SIZE).save(
        out, "JPEG2000", irreversible=False, no_jp2=True, comment=PLANTED["Comment"]
    )
    return out.getvalue()


def planted_dicom(kind: str = "explicit", *, burned_in: str | None = None) -> bytes:
    """A planted DICOM file; ``kind`` is explicit|implicit|jpeg|jpeg-multi|native-multi|j2k."""
    syntax = {
        "explicit": ExplicitVRLittleEndian,
        "implicit": ImplicitVRLittleEndian,
        "native-multi": ExplicitVRLittleEndian,
        "jpeg": JPEGBaseline8Bit,
        "jpeg-multi": JPEGBaseline8Bit,
        "j2k": JPEG2000Lossless,
    }[kind]
    frames = 3 if kind.endswith("multi") else 1
    ds = _identity(VL_PHOTOGRAPHIC if frames == 1 else MULTIFRAME_TRUE_COLOR)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 3, "RGB"
    ds.Rows, ds.Columns = SIZE[1], SIZE[0]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PlanarConfiguration = 0
    if frames > 1:
        ds.NumberOfFrames = frames
        ds.FrameTime = 40
        ds.FrameIncrementPointer = 0x00181063
    if kind.startswith("jpeg"):
        ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.PixelData = encapsulate(_jpeg_frames(frames))
        ds.LossyImageCompression = "01"
    elif kind == "j2k":
        ds.PixelData = encapsulate([_j2k_frame()])
    else:
        ds.PixelData = _pixels(frames)
    if burned_in is not None:
        ds.BurnedInAnnotation = burned_in
    return _save(ds, syntax)


def _identity(sop_class: str) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.Modality = "XC"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "FAKEVENDORWORD"]
    ds.PatientName = DICOM_PLANTED["PatientName"]
    ds.PatientID = DICOM_PLANTED["PatientID"]
    ds.IssuerOfPatientID = DICOM_PLANTED["IssuerOfPatientID"]
    ds.PatientBirthDate = DICOM_PLANTED["PatientBirthDate"]
    ds.PatientSex = "F"
    ds.PatientAddress = DICOM_PLANTED["PatientAddress"]
    other = Dataset()
    other.PatientID = DICOM_PLANTED["OtherPatientID"]
    other.IssuerOfPatientID = "Other Fake Issuer"
    ds.OtherPatientIDsSequence = Sequence([other])
    ds.InstitutionName = DICOM_PLANTED["InstitutionName"]
    ds.InstitutionAddress = DICOM_PLANTED["InstitutionAddress"]
    ds.ReferringPhysicianName = DICOM_PLANTED["ReferringPhysicianName"]
    ds.PerformingPhysicianName = DICOM_PLANTED["PerformingPhysicianName"]
    ds.OperatorsName = DICOM_PLANTED["OperatorsName"]
    ds.StationName = DICOM_PLANTED["StationName"]
    ds.DeviceSerialNumber = DICOM_PLANTED["DeviceSerialNumber"]
    ds.Manufacturer = DICOM_PLANTED["Manufacturer"]
    ds.ManufacturerModelName = DICOM_PLANTED["ModelName"]
    ds.SoftwareVersions = DICOM_PLANTED["SoftwareVersions"]
    ds.AccessionNumber = DICOM_PLANTED["AccessionNumber"]
    ds.StudyID = DICOM_PLANTED["StudyID"]
    ds.StudyDescription = DICOM_PLANTED["StudyDescription"]
    ds.SeriesDescription = DICOM_PLANTED["SeriesDescription"]
    ds.ImageComments = DICOM_PLANTED["ImageComments"]
    ds.StudyDate, ds.StudyTime = DICOM_PLANTED["StudyDate"], "040507"
    ds.ContentDate, ds.ContentTime = "20310203", "040507.123"
    ds.AcquisitionDateTime = DICOM_PLANTED["AcquisitionDateTime"] + "+0930"
    ds.SeriesNumber, ds.InstanceNumber = 7, 3
    ds.Laterality, ds.ImageLaterality = "L", "L"
    ds.PixelSpacing = [0.05, 0.05]
    ds.PatientOrientation = ["A", "F"]
    request = Dataset()
    request.RequestedProcedureID = DICOM_PLANTED["RequestedProcedureID"]
    request.ScheduledProcedureStepID = "SPS-FAKE-777"
    ds.RequestAttributesSequence = Sequence([request])
    ds.RequestingPhysician = DICOM_PLANTED["RequestingPhysician"]
    region = Dataset()
    region.CodeValue, region.CodingSchemeDesignator = "14975008", "SCT"
    region.CodeMeaning = DICOM_PLANTED["CodeMeaning"]
    ds.AnatomicRegionSequence = Sequence([region])
    ds.ICCProfile = planted_icc()
    ds.add_new(0x60000010, "US", SIZE[1])
    ds.add_new(0x60000011, "US", SIZE[0])
    ds.add_new(0x60000022, "LO", DICOM_PLANTED["OverlayDescription"])
    ds.add_new(0x60003000, "OW", bytes(SIZE[0] * SIZE[1] // 8))
    block = ds.private_block(0x0009, DICOM_PLANTED["PrivateCreator"], create=True)
    block.add_new(0x01, "LO", DICOM_PLANTED["PrivateValue"])
    block.add_new(0x02, "OB", b"\x00\x01" + DICOM_PLANTED["PrivateBlob"].encode() + b"\x00")
    inner = Dataset()
    inner.PatientName = DICOM_PLANTED["PrivateSequence"]
    block.add_new(0x03, "SQ", Sequence([inner]))
    return ds


def _save(ds: Dataset, syntax: UID) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = syntax
    meta.SourceApplicationEntityTitle = DICOM_PLANTED["SourceAE"]
    ds.file_meta = meta
    preamble = b"II*\x00" + DICOM_PLANTED["Preamble"].encode()
    ds.preamble = preamble.ljust(128, b"\x00")
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def with_dataset(mutate: object, kind: str = "explicit") -> bytes:
    """A planted file of ``kind`` after ``mutate(dataset)`` (to make variants and refusals)."""
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(planted_dicom(kind)))
    assert callable(mutate)
    mutate(ds)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
