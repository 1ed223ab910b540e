"""Dropbox emulator `files/*` routes: metadata, folders, listing, uploads and upload sessions.

Each handler gets a `Call` whose auth, path root, payload size and content_hash were already
checked by the emulator, and returns the Response Dropbox would send. Error unions follow
`dropbox/files.py`: /upload wraps a WriteError as {".tag": "path", "reason": ...,
"upload_session_id": ...}, finish and create_folder as {".tag": "path", "path": ...}.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from .dropbox_contention import WriteLocks
from .dropbox_nodes import FileNode, Location, MalformedPath, Namespace, Node
from .dropbox_sessions import SessionFailed, SessionStore
from .dropbox_store import LookupFailed, Store, WriteRejected
from .dropbox_wire import BadInput, JsonObject, ok, rate_limited, route_error, union_tag
from .messages import Response

DEFAULT_LIST_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Call:
    route: str
    arg: Any
    body: bytes
    namespace: Namespace  # chosen by the Dropbox-API-Path-Root header (default: home)


class TooManyWrites(Exception):
    """The namespace write lock is contended."""


def require(arg: Any, name: str) -> Any:
    if not isinstance(arg, Mapping) or name not in arg:
        raise BadInput(f"request body: missing required field '{name}'")
    return arg[name]


def tagged(kind: str, metadata: JsonObject) -> JsonObject:
    return {".tag": kind, **metadata}


def metadata_of(node: Node, display: str) -> JsonObject:
    kind = "file" if isinstance(node, FileNode) else "folder"
    return tagged(kind, node.metadata(display))


class FilesRoutes:
    """The route handlers; state lives in the store, the sessions and the write locks."""

    def __init__(self, store: Store, sessions: SessionStore, locks: WriteLocks) -> None:
        self.store = store
        self.sessions = sessions
        self.locks = locks
        self.batch_check_in_progress_polls = 1
        self._batch_lock = threading.Lock()
        self._batch_jobs: dict[str, tuple[list[JsonObject], int]] = {}

    def table(self) -> dict[str, Callable[[Call], Response]]:
        return {
            "files/get_metadata": self.get_metadata,
            "files/create_folder_v2": self.create_folder_v2,
            "files/list_folder": self.list_folder,
            "files/list_folder/continue": self.list_folder_continue,
            "files/upload": self.upload,
            "files/upload_session/start": self.session_start,
            "files/upload_session/append_v2": self.session_append_v2,
            "files/upload_session/append": self.session_append,
            "files/upload_session/finish": self.session_finish,
            "files/upload_session/finish_batch_v2": self.finish_batch_v2,
            "files/upload_session/finish_batch": self.finish_batch,
            "files/upload_session/finish_batch/check": self.finish_batch_check,
        }

    # ---- reading -----------------------------------------------------------------------

    def get_metadata(self, call: Call) -> Response:
        try:
            location = self.store.locate(call.namespace, require(call.arg, "path"))
            node = self.store.lookup(location)
        except MalformedPath:
            return route_error({".tag": "path", "path": {".tag": "malformed_path"}})
        except LookupFailed as failed:
            return route_error({".tag": "path", "path": failed.error})
        return ok(metadata_of(node, location.display()))

    def list_folder(self, call: Call) -> Response:
        path = require(call.arg, "path")
        try:
            location = self.store.locate(call.namespace, path)
            if location.parts and isinstance(self.store.lookup(location), FileNode):
                raise LookupFailed({".tag": "not_folder"})
        except MalformedPath:
            return route_error({".tag": "path", "path": {".tag": "malformed_path"}})
        except LookupFailed as failed:
            return route_error({".tag": "path", "path": failed.error})
        cursor = {
            "ns": call.namespace.id,
            "path": path,
            "recursive": bool(call.arg.get("recursive", False)),
            "limit": int(call.arg.get("limit") or DEFAULT_LIST_LIMIT),
            "since": None,
            "after": None,
        }
        return self._page(cursor)

    def list_folder_continue(self, call: Call) -> Response:
        raw = require(call.arg, "cursor")
        try:
            cursor = json.loads(base64.urlsafe_b64decode(raw.encode("ascii")))
            namespace = self.store.namespaces[cursor["ns"]]
        except (ValueError, KeyError, binascii.Error, UnicodeError) as exc:
            raise BadInput(f'Invalid "cursor" parameter: {raw!r}') from exc
        try:
            location = self.store.locate(namespace, cursor["path"])
            if location.parts:
                self.store.lookup(location)
        except LookupFailed as failed:
            return route_error({".tag": "path", "path": failed.error})
        return self._page(cursor)

    def _page(self, cursor: dict[str, Any]) -> Response:
        """One page; a finished listing's cursor then reports changes since it started."""
        namespace = self.store.namespaces[cursor["ns"]]
        if cursor["after"] is None:
            cursor = {**cursor, "snapshot": self.store.seq}
        location = self.store.locate(namespace, cursor["path"])
        entries = self.store.walk(location, recursive=cursor["recursive"])
        if cursor["since"] is not None:
            entries = [(d, n) for d, n in entries if n.seq > cursor["since"]]
        if cursor["after"] is not None:
            entries = [(d, n) for d, n in entries if d.lower() > cursor["after"]]
        page, has_more = entries[: cursor["limit"]], len(entries) > cursor["limit"]
        if has_more:
            following = {**cursor, "after": page[-1][0].lower()}
        else:
            following = {**cursor, "since": cursor["snapshot"], "after": None}
        encoded = base64.urlsafe_b64encode(json.dumps(following).encode("utf-8")).decode("ascii")
        return ok(
            {
                "entries": [metadata_of(node, display) for display, node in page],
                "cursor": encoded,
                "has_more": has_more,
            }
        )

    # ---- folders -----------------------------------------------------------------------

    def create_folder_v2(self, call: Call) -> Response:
        try:
            location = self.store.locate(call.namespace, require(call.arg, "path"))
            with self._write_slot([location]):
                node, display = self.store.create_folder(
                    location, autorename=bool(call.arg.get("autorename", False))
                )
        except MalformedPath:
            return route_error({".tag": "path", "path": {".tag": "malformed_path"}})
        except WriteRejected as rejected:
            return route_error({".tag": "path", "path": rejected.error})
        except TooManyWrites:
            return self._contention({".tag": "path", "path": {".tag": "too_many_write_operations"}})
        return ok({"metadata": node.metadata(display)})

    # ---- single-request upload ---------------------------------------------------------

    def upload(self, call: Call) -> Response:
        try:
            return ok(self._commit(call.namespace, call.arg, call.body))
        except (WriteRejected, TooManyWrites) as failure:
            reason = (
                failure.error
                if isinstance(failure, WriteRejected)
                else {".tag": "too_many_write_operations"}
            )
            error = {
                ".tag": "path",
                "reason": reason,
                # Dropbox keeps the bytes in a closed session so the commit can be retried.
                "upload_session_id": self.sessions.start_closed(call.body),
            }
            return (
                self._contention(error)
                if isinstance(failure, TooManyWrites)
                else route_error(error)
            )

    def _commit(
        self,
        namespace: Namespace,
        commit: Mapping[str, Any],
        data: bytes,
        *,
        take_slot: bool = True,
    ) -> JsonObject:
        """Apply one CommitInfo; raises WriteRejected or TooManyWrites."""
        mode = commit.get("mode", "add")
        mode_tag = union_tag(mode, "mode")
        rev = mode.get("update") if isinstance(mode, Mapping) else None
        location = self._commit_location(namespace, commit)
        with self._write_slot([location] if take_slot else []):
            node, display, _ = self.store.write_file(
                location,
                data,
                mode=mode_tag,
                rev=rev,
                autorename=bool(commit.get("autorename", False)),
                strict_conflict=bool(commit.get("strict_conflict", False)),
                client_modified=commit.get("client_modified"),
            )
        return node.metadata(display)

    def _commit_location(self, namespace: Namespace, commit: Mapping[str, Any]) -> Location:
        try:
            return self.store.locate(namespace, require(commit, "path"))
        except (MalformedPath, LookupFailed) as exc:
            raise WriteRejected({".tag": "malformed_path"}) from exc

    @contextmanager
    def _write_slot(self, locations: list[Location]) -> Iterator[None]:
        with self.locks.writing(loc.namespace.id for loc in locations) as acquired:
            if not acquired:
                raise TooManyWrites
            yield

    def _contention(self, route_error_value: JsonObject) -> Response:
        if self.locks.form == "429":
            return rate_limited(self.locks.retry_after, "too_many_write_operations")
        return route_error(route_error_value)

    # ---- upload sessions ---------------------------------------------------------------

    def session_start(self, call: Call) -> Response:
        session_type = union_tag(call.arg.get("session_type") or "sequential", "session_type")
        try:
            session_id = self.sessions.start(
                call.body,
                close=bool(call.arg.get("close", False)),
                concurrent=session_type == "concurrent",
            )
        except SessionFailed as failed:
            return route_error(failed.error)
        return ok({"session_id": session_id})

    def session_append_v2(self, call: Call) -> Response:
        cursor = require(call.arg, "cursor")
        return self._append(cursor, call.body, close=bool(call.arg.get("close", False)))

    def session_append(self, call: Call) -> Response:
        """v1: the arg is the cursor itself; never closes."""
        return self._append(call.arg, call.body, close=False)

    def _append(self, cursor: Mapping[str, Any], data: bytes, *, close: bool) -> Response:
        try:
            self.sessions.append(
                require(cursor, "session_id"), int(require(cursor, "offset")), data, close=close
            )
        except SessionFailed as failed:
            return route_error(failed.error)
        return ok(None)

    def session_finish(self, call: Call) -> Response:
        result = self._finish_one(call.namespace, call.arg, call.body, batch=False)
        if result[".tag"] == "success":
            return ok({k: v for k, v in result.items() if k != ".tag"})
        failure = result["failure"]
        if failure == {".tag": "too_many_write_operations"}:
            return self._contention(failure)
        return route_error(failure)

    def _finish_one(
        self, namespace: Namespace, entry: Mapping[str, Any], data: bytes, *, batch: bool
    ) -> JsonObject:
        """An UploadSessionFinishBatchResultEntry: {".tag": "success", ...} or failure."""
        cursor, commit = require(entry, "cursor"), require(entry, "commit")
        session_id = require(cursor, "session_id")
        try:
            payload = self.sessions.payload_for_finish(
                session_id, int(require(cursor, "offset")), data, require_closed=batch
            )
            # A batch holds the write slots of all its entries already.
            metadata = self._commit(namespace, commit, payload, take_slot=not batch)
        except SessionFailed as failed:
            error = {".tag": "lookup_failed", "lookup_failed": failed.error}
            return {".tag": "failure", "failure": error if failed.lookup else failed.error}
        except WriteRejected as rejected:
            return {".tag": "failure", "failure": {".tag": "path", "path": rejected.error}}
        except TooManyWrites:
            return {".tag": "failure", "failure": {".tag": "too_many_write_operations"}}
        self.sessions.discard(session_id)
        return {".tag": "success", **metadata}

    def finish_batch_v2(self, call: Call) -> Response:
        entries = require(call.arg, "entries")
        results = self._finish_batch(call.namespace, entries)
        if results is None:
            return rate_limited(self.locks.retry_after, "too_many_write_operations")
        return ok({"entries": results})

    def finish_batch(self, call: Call) -> Response:
        """v1: asynchronous; results come from /check after a few in_progress polls."""
        results = self._finish_batch(call.namespace, require(call.arg, "entries"))
        if results is None:
            return rate_limited(self.locks.retry_after, "too_many_write_operations")
        job_id = "dbjid:" + secrets.token_urlsafe(32)
        with self._batch_lock:
            self._batch_jobs[job_id] = (results, self.batch_check_in_progress_polls)
        return ok({".tag": "async_job_id", "async_job_id": job_id})

    def _finish_batch(
        self, namespace: Namespace, entries: list[Mapping[str, Any]]
    ) -> list[JsonObject] | None:
        """Commit all entries under one set of write slots; None means "answer 429"."""
        namespace_ids = set()
        for entry in entries:
            with suppress(WriteRejected, KeyError, TypeError):  # reported per entry below
                namespace_ids.add(self._commit_location(namespace, entry["commit"]).namespace.id)
        with self.locks.writing(namespace_ids) as acquired:
            if acquired:
                return [self._finish_one(namespace, e, b"", batch=True) for e in entries]
        if self.locks.form == "429":
            return None
        contended = {".tag": "failure", "failure": {".tag": "too_many_write_operations"}}
        return [contended for _ in entries]

    def finish_batch_check(self, call: Call) -> Response:
        job_id = require(call.arg, "async_job_id")
        with self._batch_lock:
            job = self._batch_jobs.get(job_id)
            if job is None:
                return route_error({".tag": "invalid_async_job_id"})
            results, polls_left = job
            if polls_left > 0:
                self._batch_jobs[job_id] = (results, polls_left - 1)
                return ok({".tag": "in_progress"})
        return ok({".tag": "complete", "entries": results})
