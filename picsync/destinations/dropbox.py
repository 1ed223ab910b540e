"""Dropbox destination: sealed payloads into a Dropbox account or a Business team space.

Files up to ``chunk_size`` go in one request: ``files_upload`` when no other upload to this
destination is in flight, else a closed single-chunk session committed with others in one
``finish_batch_v2`` (``dropbox_batch``). Larger files stream through a resumable upload session
(``dropbox_chunked``). Every commit uses mode ``add`` without autorename and sends no time: the
same bytes again return the stored file, different bytes are refused, nothing is overwritten.
The stored file counts only if its ``content_hash`` and size equal ours, computed over the exact
bytes sent. With the SDK's own retries off, ``_retry.call_with_retry`` and the ledger decide.

``dropbox_errors.translate`` turns every SDK or network failure into a picsync error. The
modules ``picsync.destinations.dropbox*`` are the only ones that import ``dropbox``.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import dropbox
from dropbox import common, files
from dropbox.content_hash import DropboxContentHasher
from dropbox.exceptions import ApiError

from picsync import __version__
from picsync.destinations.dropbox_batch import WRITE, Commit, CommitBatcher, finish_batch
from picsync.destinations.dropbox_chunked import HashingReader, SessionGoneError, upload_chunked
from picsync.destinations.dropbox_errors import error_tags, translate
from picsync.errors import (
    BlockedError,
    DestinationError,
    IntegrityError,
    PermanentError,
    TransientError,
)
from picsync.model import RemoteFile

if TYPE_CHECKING:
    from picsync.destinations import DestinationContext, PayloadSource, ResumeState

__all__ = ["DropboxDestination", "content_hash_of", "from_context"]

MiB = 1 << 20
SINGLE_REQUEST_LIMIT = 150 * MiB  # Dropbox's limit for one request body
DEFAULT_CHUNK = 8 * MiB
PROBE_NAME = ".picsync-probe"
PROBE_BYTES = b"picsync write probe\n"
_READ = 4 * MiB  # Dropbox hashes 4 MiB blocks


class DropboxDestination:
    """Uploads through ``client``, a ``dropbox.Dropbox`` (None: no refresh token configured)."""

    def __init__(
        self,
        name: str,
        client: Any,
        *,
        region: str,
        root: str = "/picsync",
        team_space: bool = False,
        chunk_size: int = DEFAULT_CHUNK,
        linger: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.region = region
        self._base = client
        self._root = root
        self._team_space = team_space
        self._chunk_size = chunk_size
        self._single_limit = min(chunk_size, SINGLE_REQUEST_LIMIT)
        self._sleep = sleep
        self._rooted: Any = None  # the client to use, ready on first use
        self._root_lock = threading.Lock()
        self._batcher = CommitBatcher(self._send_batch, linger=linger)

    # ---- the protocol ------------------------------------------------------------------

    def upload(
        self, remote_path: str, payload: PayloadSource, resume: ResumeState | None = None
    ) -> RemoteFile:
        path = self._path(remote_path)
        small = payload.size <= self._single_limit
        with self._batcher.uploading(expected=small) as ticket:
            if small:
                stored, ours = self._upload_small(path, payload, ticket)
            else:
                client = self._client()

                def commit(session_id: str, size: int, ours: str) -> Any:
                    return self._commit(ticket, path, session_id, size, ours)

                stored, ours = upload_chunked(
                    client, self._guard, path, payload, resume, self._chunk_size, commit
                )
        # The resume state stays until the ledger records the delivery: if another payload of
        # it fails, the next attempt adopts this committed session instead of sending it again.
        return _verified(remote_path, stored, ours, payload.size)

    def stat(self, remote_path: str) -> RemoteFile | None:
        path = self._path(remote_path)
        with self._guard():
            found = self._lookup(path)
        if found is None:
            return None
        return RemoteFile(path=remote_path, size=found.size, fingerprint=found.content_hash)

    def fingerprint(self, payload: PayloadSource) -> str:
        return content_hash_of(payload)

    def probe(self) -> str:
        """Account, root folder, and a write: the same tiny marker every time, so a probe
        leaves one fixed file, never a growing pile (the emulator has no delete route)."""
        with self._guard():
            if self._base is None:
                raise self._no_token()
            account = self._base.users_get_current_account()
            client = self._client()
            if self._root:
                self._ensure_folder(client, self._root)
            with self._batcher.uploading(expected=False) as ticket, self._batcher.direct(ticket):
                client.files_upload(PROBE_BYTES, f"{self._root}/{PROBE_NAME}", **WRITE)
        kind = account.account_type._tag  # basic | pro | business
        space = ", team space" if self._team_space else ""
        where = self._root or "the app folder"
        return f"Dropbox account {account.name.display_name} ({kind}{space}) writable at {where}"

    # ---- uploads -----------------------------------------------------------------------

    def _upload_small(self, path: str, payload: PayloadSource, ticket: Any) -> tuple[Any, str]:
        """One request with the whole file: direct when alone, else a closed session."""
        with payload.open() as stream:
            reader = HashingReader(stream)
            data = reader.read(payload.size)
            ours = reader.finish()
        with self._guard():
            client = self._client()
            if self._batcher.alone():
                with self._batcher.direct(ticket):
                    return client.files_upload(data, path, **WRITE), ours
            session = client.files_upload_session_start(data, close=True).session_id
        try:
            return self._commit(ticket, path, session, len(data), ours), ours
        except SessionGoneError:
            raise TransientError("Dropbox lost the upload session; uploading again") from None

    def _commit(self, ticket: Any, path: str, session_id: str, size: int, ours: str) -> Any:
        """Commit through the batcher. A session that is gone may have been committed by an
        attempt whose answer was lost: the stored file is ours if its hash is."""
        outcome = self._batcher.commit(ticket, Commit(session_id, size, path))
        if not isinstance(outcome, BaseException):
            return outcome
        with self._guard():
            if isinstance(outcome, ApiError) and error_tags(outcome.error)[:1] == (
                "lookup_failed",
            ):
                found = self._lookup(path)
                if found is None:
                    raise SessionGoneError from outcome
                if found.content_hash == ours and found.size == size:
                    return found
                raise PermanentError(
                    "something else is already stored at this remote path; refusing to overwrite"
                )
            raise outcome

    def _send_batch(self, commits: Sequence[Commit]) -> list[Any]:
        try:
            client = self._client()
        except DestinationError as exc:
            return [copy.copy(exc) for _ in commits]
        return finish_batch(client, commits, self._guard, self._sleep)

    # ---- helpers -----------------------------------------------------------------------

    def _path(self, remote_path: str) -> str:
        parts = remote_path.split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise PermanentError("remote path must be relative and stay inside the root folder")
        return f"{self._root}/{remote_path}"

    def _guard(self) -> AbstractContextManager[None]:
        return translate(self.name, self._forget_root)

    def _client(self) -> Any:
        """The SDK client, made ready on first use (so a daemon starts even while Dropbox is
        unreachable): one token refresh instead of one per worker, and for a team space the
        client rooted at the team's root namespace."""
        ready = self._rooted
        if ready is not None:
            return ready
        if self._base is None:
            raise self._no_token()
        with self._root_lock:
            if self._rooted is None:
                self._rooted = self._prepare(self._base)
            return self._rooted

    def _prepare(self, base: Any) -> Any:
        with self._guard():
            base.check_and_refresh_access_token()
            if not self._team_space:
                return base
            info = base.users_get_current_account().root_info
        if info.root_namespace_id == info.home_namespace_id:
            raise BlockedError(
                "team_space is set but this Dropbox account is in no team: remove "
                "team_space, or authorize a Business account"
            )
        return base.with_path_root(common.PathRoot.root(info.root_namespace_id))

    def _forget_root(self) -> None:
        self._rooted = None  # look the team root up again

    def _no_token(self) -> BlockedError:
        return BlockedError(
            "no Dropbox refresh token is configured; run "
            f"`picsync auth dropbox -c CONFIG --destination {self.name}`"
        )

    def _lookup(self, path: str) -> Any:
        """The FileMetadata at ``path``, or None; inside ``_guard``."""
        try:
            found = self._client().files_get_metadata(path)
        except ApiError as exc:
            if error_tags(exc.error)[:2] == ("path", "not_found"):
                return None
            raise
        if not isinstance(found, files.FileMetadata):
            raise PermanentError("a folder is in the way at this remote path")
        return found

    @staticmethod
    def _ensure_folder(client: Any, path: str) -> None:
        try:
            client.files_create_folder_v2(path, autorename=False)
        except ApiError as exc:
            if error_tags(exc.error) != ("path", "conflict", "folder"):
                raise  # a folder already there is what we want


def _verified(remote_path: str, stored: Any, ours: str, size: int) -> RemoteFile:
    if stored.content_hash != ours or stored.size != size:
        raise IntegrityError("Dropbox holds different bytes than were sent")
    return RemoteFile(path=remote_path, size=stored.size, fingerprint=stored.content_hash)


def content_hash_of(payload: PayloadSource) -> str:
    """Dropbox's content_hash of a payload, computed locally with the SDK's own hasher."""
    hasher = DropboxContentHasher()
    with payload.open() as stream:
        while chunk := stream.read(_READ):
            hasher.update(chunk)
    return str(hasher.hexdigest())


def from_context(context: DestinationContext) -> DropboxDestination:
    """The daemon's way in: an SDK client from the settings and secrets, SDK retries off."""
    settings = context.settings
    refresh_token = context.secrets.get("refresh_token")
    client = None
    if refresh_token:
        client = dropbox.Dropbox(
            oauth2_refresh_token=refresh_token,
            app_key=settings.app_key,
            app_secret=context.secrets.get("app_secret"),  # None with PKCE
            max_retries_on_error=0,  # our two retry levels decide (cloud-apis.md §6)
            max_retries_on_rate_limit=0,
            timeout=settings.timeout,
            user_agent=f"picsync/{__version__}",
            session=dropbox.create_session(max_connections=16),
        )
    return DropboxDestination(
        context.name,
        client,
        region=settings.region,
        root=settings.root,
        team_space=settings.team_space,
        chunk_size=settings.chunk_size,
    )
