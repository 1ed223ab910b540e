"""Pure: what a scrubber reports, and the options it takes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ScrubOptions:
    """Per-source choices; the defaults are the safe ones (specs/deid.md rule 6)."""

    keep_capture_date: bool = False  # write the capture date (no time of day) into the output


@dataclass(frozen=True, slots=True)
class ScrubReport:
    """What one scrub did. Only ``format`` and ``removed`` may be shown outside the sealed manifest.

    Attributes:
        format: the format written, e.g. ``"jpeg"`` (always the same as the input's).
        removed: PHI-free names of what was dropped, e.g. ``("APP1 Exif", "GPS IFD", "COM")``.
        capture_time: ISO 8601 capture time read from the input, if any (sealed manifest only).
        identifiers: identifying values read from the input, e.g. DICOM PatientID (sealed
            manifest only; never logged).
    """

    format: str
    removed: tuple[str, ...] = ()
    capture_time: str | None = None
    identifiers: dict[str, str] = field(default_factory=dict)
