"""Box emulator API routes on the `base_url` host: users, folders, files, preflight, zones.

Each handler gets a `Call` (the acting user already authenticated) and returns the Response
Box would send; `BoxFailure` becomes Box's error JSON. Upload-host routes live in
`box_uploads.py`.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from .box_store import ROOT_ID, Item, ItemNameInUse, Store, check_name
from .box_views import file_full, folder_full, folder_mini, full, mini, narrowed, user_full
from .box_wire import BoxFailure, JsonObject
from .messages import Request, Response

ConflictShape = Literal["object", "list"]
DEFAULT_ITEMS_LIMIT = 100
MAX_ITEMS_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Call:
    request: Request
    user_id: str
    params: tuple[str, ...] = ()

    def json(self) -> Any:
        try:
            return json.loads(self.request.body or b"null")
        except ValueError as exc:
            raise BoxFailure(400, "bad_request", "Could not parse JSON body") from exc

    def int_query(self, name: str, default: int) -> int:
        raw = self.request.query.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError as exc:
            code = "invalid_limit" if name == "limit" else "invalid_offset"
            raise BoxFailure(400, code, f"{name} is not a valid number") from exc


@dataclass
class Access:
    """Switches that take rights away from the acting user."""

    read_only: set[str] = field(default_factory=set)  # folder ids: writes answer 403
    hidden: set[str] = field(default_factory=set)  # item ids: answer 404 as if absent
    policies_readable: bool = True  # storage policy endpoints (admin-only on real Box)


def conflict_failure(existing: Item, shape: ConflictShape) -> BoxFailure:
    """409 item_name_in_use with the existing item in context_info.conflicts."""
    conflicts: Any = mini(existing) if shape == "object" else [mini(existing)]
    return BoxFailure(
        409,
        "item_name_in_use",
        "Item with the same name already exists",
        context_info={"conflicts": conflicts},
    )


class ApiRoutes:
    """Route handlers for the API host; state lives in the store and the switches."""

    def __init__(self, store: Store, access: Access, upload_url: str) -> None:
        self.store = store
        self.access = access
        self.upload_url = upload_url
        self.file_conflict_shape: ConflictShape = "object"  # real uploads: an object
        self.folder_conflict_shape: ConflictShape = "list"  # OpenAPI ConflictError: a list
        self.policies: dict[str, str] = {"1": "US"}  # storage policy id -> name
        self.assignments: dict[tuple[str, str], str] = {}  # (type, id) -> policy id

    # ---- access ------------------------------------------------------------------------

    def visible(self, item_id: str, kind: Literal["file", "folder"] | None = None) -> Item:
        item = self.store.get(item_id, kind)
        chain = [item, *self.store.ancestors(item)]
        if any(i.id in self.access.hidden for i in chain):
            raise BoxFailure(404, "not_found", "Not Found")
        return item

    def writable_folder(self, folder_id: str) -> Item:
        folder = self.visible(folder_id, "folder")
        chain = [folder, *self.store.ancestors(folder)]
        if any(i.id in self.access.read_only for i in chain):
            raise BoxFailure(
                403,
                "access_denied_insufficient_permissions",
                "Access denied - insufficient permission",
            )
        return folder

    def check_upload(self, folder_id: str, name: Any, size: int | None) -> None:
        """What a preflight, an upload and a session create all check first."""
        self.writable_folder(folder_id)
        check_name(name)
        try:
            self.store.check_free(folder_id, name)
        except ItemNameInUse as taken:
            raise conflict_failure(taken.existing, self.file_conflict_shape) from None
        if size is not None:
            self.store.check_quota(folder_id, size)

    # ---- users and zones ---------------------------------------------------------------

    def users_me(self, call: Call) -> Response:
        view = user_full(self.store, self.store.users[call.user_id])
        return Response.json(200, narrowed(view, call.request.query.get("fields")))

    def _zones_allowed(self) -> None:
        if not self.access.policies_readable:
            raise BoxFailure(
                403,
                "access_denied_insufficient_permissions",
                "Access denied - insufficient permission",
            )

    def policy_assignments(self, call: Call) -> Response:
        self._zones_allowed()
        kind = call.request.query.get("resolved_for_type")
        target = call.request.query.get("resolved_for_id")
        if kind not in ("user", "enterprise") or not target:
            raise BoxFailure(
                400, "bad_request", "resolved_for_type and resolved_for_id are required"
            )
        enterprise = self.store.users[call.user_id].enterprise_id
        key = (kind, target)
        if key not in self.assignments:
            if kind == "user" and target not in self.store.users:
                raise BoxFailure(404, "not_found", "Not Found")
            key = ("enterprise", enterprise)
        policy = self.assignments.get(key, "1")
        entry = {
            "type": "storage_policy_assignment",
            "id": base64.b64encode(f"{key[0]}_{key[1]}".encode()).decode("ascii"),
            "storage_policy": {"type": "storage_policy", "id": policy},
            "assigned_to": {"type": key[0], "id": key[1]},
        }
        return Response.json(200, {"limit": 1000, "next_marker": None, "entries": [entry]})

    def storage_policy(self, call: Call) -> Response:
        self._zones_allowed()
        policy_id = call.params[0]
        if policy_id not in self.policies:
            raise BoxFailure(404, "not_found", "Not Found")
        body = {"type": "storage_policy", "id": policy_id, "name": self.policies[policy_id]}
        return Response.json(200, body)

    # ---- folders and files -------------------------------------------------------------

    def get_folder(self, call: Call) -> Response:
        folder = self.visible(call.params[0], "folder")
        view = folder_full(self.store, folder)
        return Response.json(200, narrowed(view, call.request.query.get("fields")))

    def create_folder(self, call: Call) -> Response:
        body = call.json()
        parent = body.get("parent") if isinstance(body, dict) else None
        if not isinstance(parent, dict) or not isinstance(parent.get("id"), str):
            raise BoxFailure(400, "bad_request", "'parent' is required")
        self.writable_folder(parent["id"])
        try:
            folder = self.store.create_folder(parent["id"], body.get("name"), call.user_id)
        except ItemNameInUse as taken:
            raise conflict_failure(taken.existing, self.folder_conflict_shape) from None
        return Response.json(201, folder_full(self.store, folder))

    def folder_items(self, call: Call) -> Response:
        folder = self.visible(call.params[0], "folder")
        children = [c for c in self.store.children(folder.id) if c.id not in self.access.hidden]
        limit = min(call.int_query("limit", DEFAULT_ITEMS_LIMIT), MAX_ITEMS_LIMIT)
        if limit < 1:
            raise BoxFailure(400, "invalid_limit", "Limit is not a valid number")
        fields = call.request.query.get("fields")
        if call.request.query.get("usemarker", "").lower() == "true":
            start = _decode_marker(call.request.query.get("marker"))
            page = children[start : start + limit]
            following = start + limit if start + limit < len(children) else None
            return Response.json(
                200,
                {
                    "entries": [narrowed(mini(c), fields) for c in page],
                    "limit": limit,
                    "next_marker": _encode_marker(following) if following is not None else None,
                },
            )
        offset = call.int_query("offset", 0)
        if offset < 0:
            raise BoxFailure(400, "invalid_offset", "Offset is not a valid number")
        page = children[offset : offset + limit]
        return Response.json(
            200,
            {
                "total_count": len(children),
                "entries": [narrowed(mini(c), fields) for c in page],
                "offset": offset,
                "limit": limit,
                "order": [{"by": "type", "direction": "ASC"}, {"by": "name", "direction": "ASC"}],
            },
        )

    def get_file(self, call: Call) -> Response:
        item = self.visible(call.params[0], "file")
        return Response.json(
            200, narrowed(file_full(self.store, item), call.request.query.get("fields"))
        )

    def preflight(self, call: Call) -> Response:
        """OPTIONS /2.0/files/content with a JSON body: would this upload be accepted?"""
        body = call.json()
        if not isinstance(body, dict):
            raise BoxFailure(400, "bad_request", "A JSON body is required")
        parent = body.get("parent")
        if not isinstance(parent, dict) or not isinstance(parent.get("id"), str):
            raise BoxFailure(400, "bad_request", "'parent' is required")
        size = body.get("size")
        self.check_upload(parent["id"], body.get("name"), size if isinstance(size, int) else None)
        token = secrets.token_urlsafe(24)
        return Response.json(
            200,
            {
                "upload_url": f"{self.upload_url}/2.0/files/content?upload_session={token}",
                "upload_token": token,
            },
        )

    def describe(self, item_id: str) -> JsonObject:
        """Standard view of any item (for control routes)."""
        item = self.store.get(item_id)
        return full(self.store, item) if item.id != ROOT_ID else folder_mini(item)


def _encode_marker(position: int) -> str:
    return base64.urlsafe_b64encode(f"pos:{position}".encode()).decode("ascii")


def _decode_marker(marker: str | None) -> int:
    if not marker:
        return 0
    try:
        text = base64.urlsafe_b64decode(marker.encode("ascii")).decode("ascii")
        return int(text.removeprefix("pos:"))
    except (binascii.Error, ValueError, UnicodeError) as exc:
        raise BoxFailure(400, "invalid_marker", "Invalid marker") from exc
