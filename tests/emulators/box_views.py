"""Box emulator JSON views of store items: the mini and standard shapes Box returns.

Standard fields as in Box's resource reference (File, Folder, User, "... (Mini)"); a `fields`
query parameter narrows an item to `type`, `id` (and `etag`) plus the fields asked for, as Box
does. Only fields picsync or the SDK could look at are filled in; the rest keep Box's names.
"""

from __future__ import annotations

from typing import Any

from .box_store import ROOT_ID, Item, Store, User
from .box_wire import JsonObject, box_time

UNLIMITED_SPACE = 999_999_999_999_999


def user_mini(user: User) -> JsonObject:
    return {"type": "user", "id": user.id, "name": user.name, "login": user.login}


def user_full(store: Store, user: User) -> JsonObject:
    now = box_time(store.clock())
    return {
        **user_mini(user),
        "created_at": now,
        "modified_at": now,
        "language": "en",
        "timezone": "America/Los_Angeles",
        "space_amount": UNLIMITED_SPACE if user.space_amount is None else user.space_amount,
        "space_used": store.used_bytes(user.id),
        "max_upload_size": 5_368_709_120,
        "status": "active",
        "job_title": "",
        "phone": "",
        "address": "",
        "avatar_url": "",
        "notification_email": None,
    }


def folder_mini(item: Item) -> JsonObject:
    if item.id == ROOT_ID:
        return {
            "type": "folder",
            "id": ROOT_ID,
            "sequence_id": None,
            "etag": None,
            "name": item.name,
        }
    return {
        "type": "folder",
        "id": item.id,
        "sequence_id": str(item.sequence),
        "etag": item.etag,
        "name": item.name,
    }


def file_mini(item: Item) -> JsonObject:
    version = item.current
    return {
        "type": "file",
        "id": item.id,
        "file_version": {"type": "file_version", "id": version.id, "sha1": version.sha1},
        "sequence_id": str(item.sequence),
        "etag": item.etag,
        "sha1": version.sha1,
        "name": item.name,
    }


def mini(item: Item) -> JsonObject:
    return file_mini(item) if item.kind == "file" else folder_mini(item)


def _common(store: Store, item: Item) -> JsonObject:
    owner = store.users[item.owner_id]
    ancestors = store.ancestors(item)
    parent = store.items.get(item.parent_id) if item.parent_id is not None else None
    return {
        "description": "",
        "path_collection": {
            "total_count": len(ancestors),
            "entries": [folder_mini(a) for a in ancestors],
        },
        "created_at": box_time(item.created_at),
        "modified_at": box_time(item.modified_at),
        "trashed_at": None,
        "purged_at": None,
        "content_created_at": box_time(item.created_at),
        "content_modified_at": box_time(item.modified_at),
        "created_by": user_mini(owner),
        "modified_by": user_mini(owner),
        "owned_by": user_mini(owner),
        "shared_link": None,
        "parent": folder_mini(parent) if parent is not None else None,
        "item_status": "active",
    }


def file_full(store: Store, item: Item) -> JsonObject:
    return {**file_mini(item), "size": len(item.current.data), **_common(store, item)}


def folder_full(store: Store, item: Item) -> JsonObject:
    children = store.children(item.id)
    size = sum(len(c.current.data) for c in children if c.kind == "file")
    return {
        **folder_mini(item),
        "size": size,
        **_common(store, item),
        "folder_upload_email": None,
        "item_collection": {
            "total_count": len(children),
            "entries": [mini(c) for c in children[:100]],
            "offset": 0,
            "limit": 100,
            "order": [{"by": "type", "direction": "ASC"}, {"by": "name", "direction": "ASC"}],
        },
    }


def full(store: Store, item: Item) -> JsonObject:
    return file_full(store, item) if item.kind == "file" else folder_full(store, item)


def narrowed(view: JsonObject, fields: str | None) -> JsonObject:
    """Apply a `fields=a,b` query parameter: type and id always stay."""
    if not fields:
        return view
    wanted = {f.strip() for f in fields.split(",") if f.strip()} | {"type", "id", "etag"}
    return {k: v for k, v in view.items() if k in wanted}


def files_collection(entries: list[Any]) -> JsonObject:
    """What uploads and commits return: `Files`."""
    return {"total_count": len(entries), "entries": entries}
