"""The destination port: what the worker may ask of Dropbox, Box or a folder.

Backends live in submodules and are loaded by name from ``build_destination``; nothing here
imports an SDK, and backends never import each other. A backend raises only
``picsync.errors.DestinationError`` subclasses: each has one translating context manager.
"""

from __future__ import annotations

import importlib
from typing import Any, BinaryIO, Protocol, runtime_checkable

from picsync.destinations._retry import call_with_retry
from picsync.model import RemoteFile

__all__ = ["Destination", "PayloadSource", "build_destination", "call_with_retry"]

_BACKENDS = {
    "folder": "picsync.destinations.folder",
}


class PayloadSource(Protocol):
    """The bytes to upload: opened afresh for every attempt, read start to end."""

    @property
    def size(self) -> int: ...

    def open(self) -> BinaryIO:
        """A new stream positioned at the first byte; the caller closes it."""
        ...


@runtime_checkable
class Destination(Protocol):
    """One place that sealed payloads are mirrored to."""

    name: str
    region: str  # declared data region, checked against the residency policy

    def upload(self, remote_path: str, payload: PayloadSource) -> RemoteFile:
        """Store ``payload`` at ``remote_path``; uploading the same bytes again adds no copy."""
        ...

    def stat(self, remote_path: str) -> RemoteFile | None:
        """What is stored at ``remote_path``, or None."""
        ...

    def fingerprint(self, payload: PayloadSource) -> str:
        """The provider's hash of ``payload``, computed locally, to compare with ``upload``'s."""
        ...


def build_destination(name: str, settings: Any) -> Destination:
    """Make the backend that ``settings.type`` names (the daemon's composition root calls this)."""
    module = importlib.import_module(_BACKENDS[settings.type])
    destination: Destination = module.from_settings(name, settings)
    return destination
