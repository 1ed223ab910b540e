"""Pure: remove everything identifying from an image without changing a pixel.

``scrub(src, dst)`` sniffs the format from magic bytes, hands the file to that format's
allowlist scrubber and returns a report of what it removed, or raises ``RefusedError`` with a
reason a person can read (the file then goes to quarantine). Rules: ``specs/deid.md``.

Each format module exposes ``scrub(src, dst, options) -> ScrubReport``: ``src`` is a seekable
binary stream of the source file; ``dst`` is write-only (it feeds the encryptor, so nothing can be
read back or seeked). A format module verifies its own output before writing it (deid.md rule 12).
Image data is streamed, so a refusal may come after some bytes were written: on ``RefusedError``
the caller discards everything written to ``dst``.
"""

from __future__ import annotations

import importlib
from typing import BinaryIO, Protocol

from picsync.errors import RefusedError
from picsync.formats import SNIFF_BYTES, Format, sniff
from picsync.scrub.report import ScrubOptions, ScrubReport

__all__ = ["ScrubOptions", "ScrubReport", "scrub"]


class _FormatScrubber(Protocol):
    def scrub(self, src: BinaryIO, dst: BinaryIO, options: ScrubOptions) -> ScrubReport: ...


_MODULES: dict[Format, str] = {
    Format.JPEG: "picsync.scrub.jpeg",
    Format.PNG: "picsync.scrub.png",
    Format.TIFF: "picsync.scrub.tiff",
    Format.HEIF: "picsync.scrub.heif",
    Format.PDF: "picsync.scrub.pdf",
    Format.DICOM: "picsync.scrub.dicom",
}


def scrub(src: BinaryIO, dst: BinaryIO, options: ScrubOptions | None = None) -> ScrubReport:
    """De-identify ``src`` into ``dst``; raise ``RefusedError`` when that cannot be done safely."""
    head = src.read(SNIFF_BYTES)
    src.seek(0)
    fmt, name = sniff(head)
    module_name = _MODULES.get(fmt)
    if module_name is None:
        raise RefusedError(f"{name}: picsync does not de-identify this format")
    try:
        module: _FormatScrubber = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise RefusedError(f"{name}: de-identification is not available in this build") from None
    return module.scrub(src, dst, options or ScrubOptions())
