"""Box destination: sealed payloads into a Box folder tree, verified by Box's SHA-1.

The only modules that import box_sdk_gen are this one and its ``box_*`` siblings:
``box_client`` (auth, base URLs, the refresh-only retry strategy), ``box_errors`` (the
translating context manager), ``box_folders`` (path → folder id, created on demand, cached),
``box_chunked`` (resumable upload sessions), ``box_zones`` (the Box Zone check), ``box_io``.

An upload checks first (preflight, or creating the session does it) and sends below
``chunked_threshold`` in one request with the file's SHA-1 in ``content-md5`` (Box refuses
damaged bytes), at or above it through a resumable session. No dates are sent: Box then
records the upload time as the content dates, and the capture time stays in the sealed
manifest.

The same path twice: a 409 item_name_in_use whose file has our SHA-1 is our own earlier
attempt (its answer lost): success, nothing stored again. A different file there is refused
with PermanentError and left untouched, like every picsync destination: the remote names are
random ids, so only something outside picsync can have put it there, and a Box "new version"
would make that file's current content ours (older versions are plan-dependent and may be
purged by retention policies), which is not ours to decide.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from contextlib import closing
from typing import TYPE_CHECKING, Any

from box_sdk_gen.box.errors import BoxAPIError
from box_sdk_gen.managers.uploads import (
    PreflightFileUploadCheckParent,
    UploadFileAttributes,
    UploadFileAttributesParentField,
)

from picsync.destinations.box_chunked import ChunkedUpload
from picsync.destinations.box_client import Connection, connect
from picsync.destinations.box_errors import Conflict, code_of, conflict_of, status_of, translate
from picsync.destinations.box_folders import FolderTree
from picsync.destinations.box_io import ReopeningStream, sha1_of
from picsync.destinations.box_zones import ZoneCheck, check_zone
from picsync.errors import IntegrityError, PermanentError, TransientError
from picsync.model import RemoteFile

if TYPE_CHECKING:
    from picsync.destinations import DestinationContext, KeyValueCache, PayloadSource, ResumeState

__all__ = ["BoxDestination", "from_context", "split_remote_path"]


class BoxDestination:
    def __init__(
        self,
        name: str,
        region: str,
        connection: Connection,
        cache: KeyValueCache,
        *,
        folder_id: str | None,
        folder_path: str | None = None,
        chunked_threshold: int = 20_000_000,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.region = region
        self._connection = connection
        self._client = connection.client
        self._folders = FolderTree(
            self._client, cache, folder_id=folder_id, folder_path=folder_path
        )
        self._threshold = chunked_threshold
        self._sleep = sleep
        self._zone_lock = threading.Lock()
        self._zone: ZoneCheck | None = None

    # ---- the protocol ------------------------------------------------------------------

    def upload(
        self, remote_path: str, payload: PayloadSource, resume: ResumeState | None = None
    ) -> RemoteFile:
        parts = split_remote_path(remote_path)
        with translate():
            self._check_zone_once()
            try:
                return self._upload(parts, remote_path, payload, resume)
            except BoxAPIError as exc:
                if status_of(exc) != 404:
                    raise
                # A cached folder id went stale (deleted or moved on Box): resolve again once.
                self._folders.forget(parts[:-1])
                return self._upload(parts, remote_path, payload, resume)

    def stat(self, remote_path: str) -> RemoteFile | None:
        parts = split_remote_path(remote_path)
        with translate():
            folder_id = self._folders.lookup(parts[:-1])
            file_id = self._find_file(folder_id, parts[-1]) if folder_id is not None else None
            if file_id is None:
                return None
            return self._remote_file(file_id, remote_path)

    def fingerprint(self, payload: PayloadSource) -> str:
        return sha1_of(payload)

    def probe(self) -> str:
        with translate():
            me = self._client.users.get_user_me(fields=["id", "login"])
            root_id = self._folders.root()
            root = self._client.folders.get_folder_by_id(root_id, fields=["name", "owned_by"])
            # Proves upload permission without leaving anything behind.
            self._client.uploads.preflight_file_upload_check(
                name=f".picsync-probe-{secrets.token_hex(6)}",
                size=1,
                parent=PreflightFileUploadCheckParent(id=root_id),
            )
            zone = check_zone(self._client, _owner_id(root, me), self.region)
        redirected = self._connection.redirected_to
        seam = f"; API redirected to {redirected} by PICSYNC_BOX_BASE_URL" if redirected else ""
        return (
            f"Box ({self._connection.auth_kind}) as {me.login} (user {me.id}): folder "
            f"{root.name!r} (id {root_id}) accepts uploads; {zone.line}{seam}"
        )

    # ---- uploading ---------------------------------------------------------------------

    def _upload(
        self,
        parts: list[str],
        remote_path: str,
        payload: PayloadSource,
        resume: ResumeState | None,
    ) -> RemoteFile:
        folder_id = self._folders.ensure(parts[:-1])
        name = parts[-1]
        try:
            if payload.size >= self._threshold:
                chunked = ChunkedUpload(self._client, resume, sleep=self._sleep)
                stored, ours = chunked.run(folder_id, name, payload)
            else:
                stored, ours = self._upload_simple(folder_id, name, payload)
        except BoxAPIError as exc:
            conflict = conflict_of(exc)
            if conflict is None:
                raise
            return self._settle(conflict, remote_path, payload, resume)
        if (str(stored.sha_1 or "").lower(), stored.size) != (ours, payload.size):
            raise IntegrityError("Box reports other bytes than were sent")
        return RemoteFile(path=remote_path, size=payload.size, fingerprint=ours)

    def _upload_simple(self, folder_id: str, name: str, payload: PayloadSource) -> tuple[Any, str]:
        parent = PreflightFileUploadCheckParent(id=folder_id)
        self._client.uploads.preflight_file_upload_check(
            name=name, size=payload.size, parent=parent
        )
        ours = sha1_of(payload)
        attributes = UploadFileAttributes(
            name=name, parent=UploadFileAttributesParentField(id=folder_id)
        )
        with closing(ReopeningStream(payload)) as stream:
            files = self._client.uploads.upload_file(attributes, stream, content_md_5=ours)
        if not files.entries:
            raise TransientError("Box: the upload answered without the file")
        return files.entries[0], ours

    def _settle(
        self,
        conflict: Conflict,
        remote_path: str,
        payload: PayloadSource,
        resume: ResumeState | None,
    ) -> RemoteFile:
        """The name is taken: ours (an earlier attempt landed) or someone else's file."""
        if resume is not None and resume.load() is not None:
            ChunkedUpload(self._client, resume).discard()  # a session of no more use
        if conflict.kind != "file":
            raise PermanentError("a Box folder has the name of this remote file")
        existing = self._remote_file(conflict.id, remote_path)
        if (existing.fingerprint, existing.size) != (sha1_of(payload), payload.size):
            raise PermanentError(
                "a different file already exists at this remote path on Box; refusing to "
                "overwrite it (it was left as it is)"
            )
        return existing

    # ---- reading -----------------------------------------------------------------------

    def _remote_file(self, file_id: str, remote_path: str) -> RemoteFile:
        info = self._client.files.get_file_by_id(file_id, fields=["size", "sha1"])
        return RemoteFile(
            path=remote_path, size=int(info.size or 0), fingerprint=str(info.sha_1 or "").lower()
        )

    def _find_file(self, folder_id: str, name: str) -> str | None:
        """The id of file `name` in the folder, found by a preflight check's 409."""
        try:
            self._client.uploads.preflight_file_upload_check(
                name=name, parent=PreflightFileUploadCheckParent(id=folder_id)
            )
        except BoxAPIError as exc:
            conflict = conflict_of(exc)
            if conflict is not None:
                return conflict.id if conflict.kind == "file" else None
            if code_of(exc) in ("item_name_invalid", "item_name_too_long"):
                return None
            raise
        return None

    def _check_zone_once(self) -> None:
        """Before the first upload of this process: a readable zone must match the region."""
        if self._zone is not None:
            return
        with self._zone_lock:
            if self._zone is None:
                root = self._client.folders.get_folder_by_id(
                    self._folders.root(), fields=["owned_by"]
                )
                self._zone = check_zone(self._client, _owner_id(root, None), self.region)


def _owner_id(folder: Any, me: Any) -> str:
    owner = getattr(folder, "owned_by", None)
    if owner is not None and getattr(owner, "id", None):
        return str(owner.id)
    if me is not None:
        return str(me.id)
    raise TransientError("Box did not say who owns the destination folder")


def split_remote_path(remote_path: str) -> list[str]:
    parts = remote_path.split("/")
    if not remote_path or remote_path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise PermanentError("remote path must be relative and stay inside the Box folder")
    return parts


def from_context(context: DestinationContext) -> BoxDestination:
    settings = context.settings
    return BoxDestination(
        context.name,
        settings.region,
        connect(settings, context.secrets, context.name),
        context.cache,
        folder_id=settings.folder_id,
        folder_path=settings.folder_path,
        chunked_threshold=settings.chunked_threshold,
    )
