"""Logging: structlog, JSON lines for journald and files, a readable console on a terminal.

No source path may reach a log line: file and folder names in a clinic are patient names.
Code logs job ids and short path hashes; as a second line of defence, every string in every
event (exception text included) has the watched folders' paths replaced by a placeholder.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any, TextIO

import structlog

REDACTED = "<source path>"


class PathRedactor:
    """A structlog processor that hides anything under the given folders."""

    def __init__(self, roots: Iterable[Path]) -> None:
        prefixes = sorted({str(root) for root in roots}, key=len, reverse=True)
        if prefixes:
            alternatives = "|".join(re.escape(p) for p in prefixes)
            # The root and whatever path follows it, up to a quote or the end of the line.
            self._pattern: re.Pattern[str] | None = re.compile(f"(?:{alternatives})[^'\"\\n]*")
        else:
            self._pattern = None

    def redact(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(REDACTED, text)

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in event_dict.items():
            if isinstance(value, Path):
                event_dict[key] = REDACTED
            elif isinstance(value, str):
                event_dict[key] = self.redact(value)
        return event_dict


class _StdlibRedactFilter(logging.Filter):
    def __init__(self, redactor: PathRedactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redactor.redact(record.getMessage())
        record.args = None
        return True


def configure(
    level: str = "info",
    fmt: str = "auto",
    roots: Iterable[Path] = (),
    stream: TextIO | None = None,
) -> None:
    """Set up structlog and route third-party stdlib logging (watchdog, SDKs) through the same
    redaction at WARNING and above."""
    out = stream or sys.stderr
    redactor = PathRedactor(roots)
    as_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redactor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.addFilter(_StdlibRedactFilter(redactor))
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
