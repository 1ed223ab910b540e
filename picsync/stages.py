"""Pure: the scrub stage as the pipeline's transform.

Scrubbing runs on every route, always: there is no configuration that turns it off. A scrubber
that fails in a way it did not foresee refuses the file (fail closed, specs/deid.md rule 10)
instead of letting an unexplained error retry it forever.
"""

from __future__ import annotations

from typing import BinaryIO

from picsync.errors import PicsyncError, RefusedError
from picsync.formats import Format
from picsync.pipeline import TransformResult
from picsync.scrub import ScrubOptions, scrub


class ScrubStage:
    """Callable transform: ``src`` → de-identified bytes into ``sink``."""

    def __init__(self, options: ScrubOptions | None = None) -> None:
        self.options = options or ScrubOptions()

    def __call__(self, src: BinaryIO, sink: BinaryIO) -> TransformResult:
        try:
            report = scrub(src, sink, self.options)
        except PicsyncError:
            raise
        except (MemoryError, RecursionError) as exc:
            raise RefusedError(
                f"the file is too large or too deep to de-identify ({type(exc).__name__})"
            ) from None
        except Exception as exc:
            raise RefusedError(
                f"the file could not be de-identified safely (unexpected {type(exc).__name__})"
            ) from None
        return TransformResult(
            format=Format(report.format),
            removed=report.removed,
            capture_time=report.capture_time,
            identifiers=dict(report.identifiers),
        )
