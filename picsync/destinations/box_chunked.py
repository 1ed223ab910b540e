"""Box backend: chunked upload sessions that survive a crash, and a commit that waits.

Box sessions (developer.box.com uploads/chunked) take files of at least 20 MB in parts of a
size the server chooses, each sent with its SHA-1 (`digest: sha=`), then a commit with the list
of parts and the whole file's SHA-1. The session id, its endpoints and every uploaded part are
saved in the delivery's ResumeState (JSON in the ledger) after each part, so an attempt after
a failure or a restart asks the server which parts it holds and sends only the others.

The commit may answer 202 + Retry-After while Box assembles the parts; the SDK's
``upload_big_file`` crashes after five of those (cloud-apis.md §4.4), so the session endpoints
are driven here, committing again after each wait, within a bound.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import requests
from box_sdk_gen.box.errors import BoxAPIError, BoxSDKError
from box_sdk_gen.client import BoxClient
from box_sdk_gen.networking.fetch_options import FetchOptions, ResponseFormat
from box_sdk_gen.schemas.file_full import FileFull
from box_sdk_gen.schemas.files import Files
from box_sdk_gen.serialization.json import deserialize

from picsync.crashpoints import crashpoint
from picsync.destinations.box_errors import code_of, retry_after_of, status_of
from picsync.destinations.box_io import digest_header, new_sha1, read_exact
from picsync.errors import IntegrityError, TransientError
from picsync.heartbeat import touch

if TYPE_CHECKING:
    from picsync.destinations import PayloadSource, ResumeState

STATE_VERSION = 1
# Commit polls within one attempt: a few minutes at most, so that a worker is not held for
# long; after that the delivery is retried later (the session and its parts are kept).
COMMIT_POLLS = 30
MAX_COMMIT_WAIT = 60.0  # one Retry-After, capped
MAX_COMMIT_WAITING = 180.0  # all of them, per attempt
_PARTS_PAGE = 1000
_SESSION_GONE = (404, 410)


@dataclass(slots=True)
class Progress:
    """What a resumed attempt needs: the session and the parts the server confirmed."""

    session_id: str
    upload_part: str
    commit: str
    abort: str
    list_parts: str
    part_size: int
    total_parts: int
    size: int
    folder_id: str
    name: str
    parts: list[dict[str, Any]] = field(default_factory=list)
    v: int = STATE_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


class ChunkedUpload:
    """One file into one Box folder through an upload session."""

    def __init__(
        self,
        client: BoxClient,
        resume: ResumeState | None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._resume = resume
        self._sleep = sleep

    def run(self, folder_id: str, name: str, payload: PayloadSource) -> tuple[FileFull, str]:
        """Upload and commit: (the file, our SHA-1 of the payload). A BoxAPIError 409
        item_name_in_use (the file exists) is left to the caller."""
        progress = self._resumed(folder_id, name, payload.size)
        if progress is None:
            progress = self._start(folder_id, name, payload.size)
        whole = self._send_parts(progress, payload)
        return self._commit(progress, whole), whole

    def discard(self) -> None:
        """Abort the saved session (best effort) and forget it."""
        progress = self._load()
        if progress is not None:
            # Best effort: an abandoned session expires on its own within days.
            with suppress(BoxSDKError, requests.RequestException):
                self._client.chunked_uploads.delete_file_upload_session_by_url(progress.abort)
        self._forget()

    # ---- the session -------------------------------------------------------------------

    def _load(self) -> Progress | None:
        raw = self._resume.load() if self._resume is not None else None
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            progress = Progress(**data)
        except (ValueError, TypeError):
            return None
        return progress if progress.v == STATE_VERSION else None

    def _forget(self) -> None:
        if self._resume is not None:
            self._resume.clear()

    def _save(self, progress: Progress) -> None:
        if self._resume is not None:
            self._resume.save(progress.to_json())

    def _resumed(self, folder_id: str, name: str, size: int) -> Progress | None:
        progress = self._load()
        if progress is None:
            return None
        if (progress.folder_id, progress.name, progress.size) != (folder_id, name, size):
            self.discard()
            return None
        try:
            progress.parts = self._server_parts(progress)
        except BoxAPIError as exc:
            if status_of(exc) not in _SESSION_GONE:
                raise
            # Expired, aborted, or committed by an attempt whose answer was lost: start over;
            # a committed file then shows up as a name conflict with our SHA-1.
            self._forget()
            return None
        self._save(progress)
        return progress

    def _server_parts(self, progress: Progress) -> list[dict[str, Any]]:
        """The parts the server holds: it knows of parts whose answer never reached us."""
        parts: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self._client.chunked_uploads.get_file_upload_session_parts_by_url(
                progress.list_parts, offset=offset, limit=_PARTS_PAGE
            )
            entries = page.entries or []
            parts += [_part_dict(p) for p in entries]
            offset += len(entries)
            if not entries or offset >= (page.total_count or 0):
                return sorted(parts, key=lambda p: int(p["offset"]))

    def _start(self, folder_id: str, name: str, size: int) -> Progress:
        session = self._client.chunked_uploads.create_file_upload_session(folder_id, size, name)
        endpoints = session.session_endpoints
        if endpoints is None or not session.id or not session.part_size:
            raise TransientError("Box: the upload session came back incomplete")
        progress = Progress(
            session_id=str(session.id),
            upload_part=str(endpoints.upload_part),
            commit=str(endpoints.commit),
            abort=str(endpoints.abort),
            list_parts=str(endpoints.list_parts),
            part_size=int(session.part_size),
            total_parts=int(session.total_parts or 0),
            size=size,
            folder_id=folder_id,
            name=name,
        )
        if progress.part_size * progress.total_parts < size:
            raise TransientError("Box: the upload session's parts cannot hold the file")
        self._save(progress)
        return progress

    # ---- parts -------------------------------------------------------------------------

    def _send_parts(self, progress: Progress, payload: PayloadSource) -> str:
        """Send every part the server lacks; returns the whole file's SHA-1 (hex)."""
        whole = new_sha1()
        held = {int(p["offset"]): p for p in progress.parts}
        with payload.open() as stream:
            for offset in range(0, progress.size, progress.part_size):
                chunk = read_exact(stream, min(progress.part_size, progress.size - offset))
                if len(chunk) != min(progress.part_size, progress.size - offset):
                    raise IntegrityError("the payload ended before its recorded size")
                whole.update(chunk)
                digest = new_sha1()
                digest.update(chunk)
                sha1 = digest.hexdigest()
                known = held.get(offset)
                if known is not None:
                    if (known["sha1"], int(known["size"])) == (sha1, len(chunk)):
                        continue
                    self.discard()
                    raise IntegrityError("a resumed Box session holds other bytes; starting over")
                part = self._send_part(progress, offset, chunk, sha1)
                progress.parts.append(part)
                self._save(progress)
                crashpoint("box.part_uploaded")
        return whole.hexdigest()

    def _send_part(
        self, progress: Progress, offset: int, chunk: bytes, sha1: str
    ) -> dict[str, Any]:
        content_range = f"bytes {offset}-{offset + len(chunk) - 1}/{progress.size}"
        try:
            uploaded = self._client.chunked_uploads.upload_file_part_by_url(
                progress.upload_part, io.BytesIO(chunk), digest_header(sha1), content_range
            )
        except BoxAPIError as exc:
            if code_of(exc) == "range_overlaps_existing_part":
                # An earlier send of this part landed but its answer was lost.
                for part in self._server_parts(progress):
                    if int(part["offset"]) == offset and part["sha1"] == sha1:
                        return part
                raise IntegrityError("Box holds other bytes at this part's range") from exc
            if status_of(exc) in _SESSION_GONE:
                self._forget()
                raise TransientError("Box: the upload session expired; a new one follows") from exc
            raise
        part = _part_dict(uploaded.part) if uploaded.part is not None else {}
        if (part.get("offset"), part.get("size"), part.get("sha1")) != (offset, len(chunk), sha1):
            raise IntegrityError("Box confirmed a part with another range or SHA-1 than was sent")
        return part

    # ---- commit ------------------------------------------------------------------------

    def _commit(self, progress: Progress, whole_sha1: str) -> FileFull:
        parts = sorted(progress.parts, key=lambda p: int(p["offset"]))
        wait = waited = 0.0
        for _ in range(COMMIT_POLLS):
            try:
                response = self._client.make_request(
                    FetchOptions(
                        url=progress.commit,
                        method="POST",
                        headers={"digest": digest_header(whole_sha1)},
                        data={"parts": parts},
                        content_type="application/json",
                        response_format=ResponseFormat.JSON,
                    )
                )
            except BoxAPIError as exc:
                if status_of(exc) in _SESSION_GONE:
                    self._forget()
                    raise TransientError("Box: the upload session is gone; starting over") from exc
                if status_of(exc) == 400:
                    # The next attempt commits the parts list the server reports.
                    raise IntegrityError(f"Box refused the commit ({code_of(exc)})") from exc
                raise
            if response.status == 202:
                asked = retry_after_of(response.headers)
                wait = min(1.0 if asked is None else asked, MAX_COMMIT_WAIT)
                if waited + wait > MAX_COMMIT_WAITING:
                    break
                self._sleep(wait)
                touch()  # waiting for Box to assemble the file is progress, not a hang
                waited += wait
                continue
            files = deserialize(response.data, Files)
            if not files.entries:
                raise TransientError("Box: the commit answered without the file")
            self._forget()
            result: FileFull = files.entries[0]
            return result
        raise TransientError("Box is still assembling the uploaded parts", retry_after=wait)


def _part_dict(part: Any) -> dict[str, Any]:
    return {
        "part_id": str(part.part_id),
        "offset": int(part.offset),
        "size": int(part.size),
        "sha1": str(part.sha_1).lower(),
    }
