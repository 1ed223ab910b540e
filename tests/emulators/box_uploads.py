"""Box emulator upload-host routes: direct uploads, new versions and chunked upload sessions.

Direct uploads are multipart/form-data with the `attributes` JSON part before the `file` part
(else 400 `metadata_after_file_contents`); the name comes from the attributes, never from the
part's filename. A `content-md5` header carries the SHA-1 (hex) of the file: a mismatch is 400
`bad_digest`. Creating a session runs the same checks as a preflight (name in use, quota).
"""

from __future__ import annotations

import json
from typing import Any

from .box_routes import ApiRoutes, Call, conflict_failure
from .box_sessions import SessionStore
from .box_store import ItemNameInUse, Store
from .box_views import file_full, files_collection
from .box_wire import BoxFailure, boundary_of, digest_sha1, parse_form, sha1_hex
from .messages import Response


def form_fields(call: Call) -> tuple[dict[str, Any], bytes]:
    """(attributes, file bytes) of a multipart upload, in Box's required order."""
    boundary = boundary_of(call.request.header("content-type"))
    if boundary is None:
        raise BoxFailure(400, "bad_request", "Expected multipart/form-data")
    parts = parse_form(call.request.body, boundary)
    names = [p.name for p in parts]
    if "attributes" not in names or "file" not in names:
        raise BoxFailure(400, "bad_request", "Both 'attributes' and 'file' parts are required")
    if names.index("file") < names.index("attributes"):
        raise BoxFailure(
            400,
            "metadata_after_file_contents",
            "Metadata is included after file contents in a file upload request.",
        )
    try:
        attributes = json.loads(parts[names.index("attributes")].data)
    except ValueError as exc:
        raise BoxFailure(400, "bad_request", "Could not parse 'attributes'") from exc
    if not isinstance(attributes, dict):
        raise BoxFailure(400, "bad_request", "'attributes' must be an object")
    return attributes, parts[names.index("file")].data


def check_md5_header(call: Call, data: bytes) -> None:
    claimed = call.request.header("content-md5")
    if claimed is not None and claimed.strip().lower() != sha1_hex(data):
        raise BoxFailure(
            400, "bad_digest", "The specified content-md5 did not match what we received"
        )


class UploadRoutes:
    def __init__(self, api: ApiRoutes, sessions: SessionStore, upload_url: str) -> None:
        self.api = api
        self.store: Store = api.store
        self.sessions = sessions
        self.upload_url = upload_url

    def upload(self, call: Call) -> Response:
        attributes, data = form_fields(call)
        parent = attributes.get("parent")
        if not isinstance(parent, dict) or not isinstance(parent.get("id"), str):
            raise BoxFailure(400, "bad_request", "'parent' is required")
        check_md5_header(call, data)
        self.api.check_upload(parent["id"], attributes.get("name"), len(data))
        try:
            item = self.store.add_file(parent["id"], attributes["name"], data)
        except ItemNameInUse as taken:  # lost a race with another upload
            raise conflict_failure(taken.existing, self.api.file_conflict_shape) from None
        return Response.json(201, files_collection([file_full(self.store, item)]))

    def upload_version(self, call: Call) -> Response:
        item = self.api.visible(call.params[0], "file")
        attributes, data = form_fields(call)
        assert item.parent_id is not None
        self.api.writable_folder(item.parent_id)
        if_match = call.request.header("if-match")
        if if_match is not None and if_match != item.etag:
            raise BoxFailure(
                412,
                "precondition_failed",
                "The resource has been modified. Retrieve the resource again and retry",
            )
        check_md5_header(call, data)
        name = attributes.get("name")
        try:
            item = self.store.add_version(item.id, data, name if isinstance(name, str) else None)
        except ItemNameInUse as taken:
            raise conflict_failure(taken.existing, self.api.file_conflict_shape) from None
        return Response.json(201, files_collection([file_full(self.store, item)]))

    # ---- chunked upload sessions -------------------------------------------------------

    def create_session(self, call: Call) -> Response:
        body = call.json()
        if not isinstance(body, dict):
            raise BoxFailure(400, "bad_request", "A JSON body is required")
        folder_id, name, size = body.get("folder_id"), body.get("file_name"), body.get("file_size")
        if not isinstance(folder_id, str) or not isinstance(size, int):
            raise BoxFailure(400, "bad_request", "folder_id, file_name and file_size are required")
        self.api.check_upload(folder_id, name, size)
        session = self.sessions.create(folder_id, name, size)
        return Response.json(201, self.sessions.view(session, self.upload_url))

    def get_session(self, call: Call) -> Response:
        session = self.sessions.get(call.params[0])
        return Response.json(200, self.sessions.view(session, self.upload_url))

    def upload_part(self, call: Call) -> Response:
        digest = digest_sha1(call.request.header("digest"))
        part = self.sessions.upload_part(
            call.params[0], call.request.header("content-range"), digest, call.request.body
        )
        return Response.json(200, {"part": part.view()})

    def list_parts(self, call: Call) -> Response:
        offset = call.int_query("offset", 0)
        limit = min(call.int_query("limit", 100), 1000)
        return Response.json(200, self.sessions.list_parts(call.params[0], offset, limit))

    def abort(self, call: Call) -> Response:
        self.sessions.get(call.params[0])
        self.sessions.discard(call.params[0])
        return Response(204)

    def commit(self, call: Call) -> Response:
        session_id = call.params[0]
        session = self.sessions.get(session_id)
        body = call.json()
        listed = body.get("parts") if isinstance(body, dict) else None
        data = self.sessions.assemble(
            session_id, listed, digest_sha1(call.request.header("digest"))
        )
        if data is None:
            retry_after = str(self.sessions.commit_retry_after)
            return Response(202, b"", None, {"Retry-After": retry_after})
        try:
            self.api.check_upload(session.folder_id, session.file_name, len(data))
            item = self.store.add_file(session.folder_id, session.file_name, data)
        except ItemNameInUse as taken:
            raise conflict_failure(taken.existing, self.api.file_conflict_shape) from None
        self.sessions.discard(session_id)
        return Response.json(201, files_collection([file_full(self.store, item)]))
