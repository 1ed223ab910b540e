"""Pure: the values that move between picsync's parts. Stdlib only."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FileState(StrEnum):
    """Where a source file stands. Terminal: DONE, DUPLICATE, QUARANTINED, VANISHED."""

    NEW = "new"  # discovered and complete; waits to be prepared (scrubbed and sealed)
    PREPARING = "preparing"  # claimed by a worker; back to NEW at start-up
    SPOOLED = "spooled"  # its payloads sit in the spool; deliveries may run
    DELIVERED = "delivered"  # every delivery verified; the source waits for keep/move/delete
    DISPOSING = "disposing"  # claimed for disposition; back to DELIVERED at start-up
    DONE = "done"  # delivered and disposed of; the ledger no longer holds its path
    DUPLICATE = "duplicate"  # same bytes as a file already recorded for this source
    QUARANTINED = "quarantined"  # refused, with a reason; never uploaded, never touched
    VANISHED = "vanished"  # deleted by someone else before picsync could read it


class DeliveryState(StrEnum):
    """Where one (file, destination) delivery stands."""

    PENDING = "pending"  # waits for its file to be spooled and for not_before
    RUNNING = "running"  # claimed by a worker; back to PENDING at start-up
    DONE = "done"  # uploaded and verified
    DEAD = "dead"  # permanent failure or attempts used up; `picsync retry` revives it


TERMINAL_FILE_STATES = frozenset(
    {FileState.DONE, FileState.DUPLICATE, FileState.QUARANTINED, FileState.VANISHED}
)


@dataclass(frozen=True, slots=True)
class Signature:
    """What identifies one version of a file on disk without reading it."""

    dev: int
    ino: int
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class PrepareJob:
    """A discovered file to read, hash and pass through the pipeline into the spool."""

    file_id: int
    source: str
    rel_path: str
    path_key: str
    signature: Signature
    attempts: int


class PayloadKind(StrEnum):
    IMAGE = "image"  # the scrubbed file
    MANIFEST = "manifest"  # the sealed JSON that says what the image is


class Audience(StrEnum):
    """Who can open a spool file: the records office, or this station (plaintext destinations)."""

    RECIPIENTS = "recipients"
    STATION = "station"


@dataclass(frozen=True, slots=True)
class DisposalJob:
    """A delivered file whose source is to be kept, moved to the archive or deleted."""

    file_id: int
    source: str
    rel_path: str
    path_key: str
    signature: Signature
    delivered_at: float
    remote_id: str


@dataclass(frozen=True, slots=True)
class Payload:
    """One spool file of a prepared source file.

    ``suffix`` is appended to the delivery's remote base; ``size`` and ``sha256`` describe the
    bytes that are uploaded (the ciphertext, or for a station payload the decrypted plaintext).
    """

    spool_name: str
    suffix: str
    size: int
    sha256: str
    kind: PayloadKind = PayloadKind.IMAGE
    audience: Audience = Audience.RECIPIENTS


@dataclass(frozen=True, slots=True)
class DeliveryJob:
    """One (file, destination) upload: every payload goes to ``remote_base + suffix``."""

    delivery_id: int
    file_id: int
    destination: str
    remote_base: str
    attempts: int
    payloads: tuple[Payload, ...]


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """What a destination reports it stored."""

    path: str
    size: int
    fingerprint: str  # the provider's hash of the stored bytes


@dataclass(frozen=True, slots=True)
class Retry:
    """Decision: try the delivery again at ``not_before`` (unix time)."""

    not_before: float
    reason: str
    counted: bool = True  # False: the failure does not use up an attempt (no answer at all)


@dataclass(frozen=True, slots=True)
class Bury:
    """Decision: stop trying; the delivery is dead until an operator revives it."""

    reason: str


@dataclass(frozen=True, slots=True)
class Pause:
    """Decision: the whole destination waits until ``until``; the attempt is not counted."""

    until: float
    reason: str


Decision = Retry | Bury | Pause
