"""The destination port: what the worker may ask of Dropbox, Box or a folder.

Backends live in submodules and are loaded by name from ``build_destination``; nothing here
imports an SDK, and backends never import each other. A backend raises only
``picsync.errors.DestinationError`` subclasses: each has one translating context manager.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, runtime_checkable

from picsync.destinations._retry import call_with_retry
from picsync.model import RemoteFile

__all__ = [
    "Destination",
    "DestinationContext",
    "KeyValueCache",
    "MemoryCache",
    "PayloadSource",
    "ResumeState",
    "build_destination",
    "call_with_retry",
]

_BACKENDS = {
    "folder": "picsync.destinations.folder",
    "dropbox": "picsync.destinations.dropbox",
    "box": "picsync.destinations.box",
}


class PayloadSource(Protocol):
    """The bytes to upload: opened afresh for every attempt, read start to end."""

    @property
    def size(self) -> int: ...

    def open(self) -> BinaryIO:
        """A new stream positioned at the first byte; the caller closes it."""
        ...


class ResumeState(Protocol):
    """Where a chunked upload keeps its progress (session id, offset, parts) across attempts
    and restarts: one slot per (delivery, remote path), kept in the ledger, JSON text."""

    def load(self) -> str | None: ...

    def save(self, state: str) -> None: ...

    def clear(self) -> None: ...


class KeyValueCache(Protocol):
    """Per-destination durable cache, e.g. Box folder ids by path (kept in the ledger)."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str) -> None: ...

    def delete(self, key: str) -> None: ...


class MemoryCache:
    """A throwaway KeyValueCache, for one-off commands that must not need the daemon's ledger."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self._values.get(key)

    def put(self, key: str, value: str) -> None:
        self._values[key] = value

    def delete(self, key: str) -> None:
        self._values.pop(key, None)


@dataclass(frozen=True, slots=True)
class DestinationContext:
    """What a backend gets to build itself: its settings, its secrets, its durable cache."""

    name: str
    settings: Any
    secrets: Mapping[str, str]
    cache: KeyValueCache
    station: str


@runtime_checkable
class Destination(Protocol):
    """One place that sealed payloads are mirrored to."""

    name: str
    region: str  # declared data region, checked against the residency policy

    def upload(
        self, remote_path: str, payload: PayloadSource, resume: ResumeState | None = None
    ) -> RemoteFile:
        """Store ``payload`` at ``remote_path``; uploading the same bytes again adds no copy.

        A backend that uploads in chunks keeps its progress in ``resume`` so that an attempt
        after a failure or a restart continues where the last one stopped.
        """
        ...

    def stat(self, remote_path: str) -> RemoteFile | None:
        """What is stored at ``remote_path``, or None."""
        ...

    def fingerprint(self, payload: PayloadSource) -> str:
        """The provider's hash of ``payload``, computed locally, to compare with ``upload``'s."""
        ...

    def probe(self) -> str:
        """Prove that auth and write access work; a line for the operator, or a
        DestinationError that says what is wrong (``picsync check --online``)."""
        ...


def build_destination(context: DestinationContext) -> Destination:
    """Make the backend that ``settings.type`` names (the daemon's composition root calls this)."""
    module = importlib.import_module(_BACKENDS[context.settings.type])
    destination: Destination = module.from_context(context)
    return destination
