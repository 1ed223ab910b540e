"""Dropbox emulator data model: file, folder and mount nodes, namespaces, resolved paths.

Keys are lower-cased paths relative to a namespace ("/a/b"); each node keeps the name it was
created with, so display paths keep their first case. Pure data, no locking: the Store guards it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .dropbox_wire import JsonObject


class MalformedPath(ValueError):
    """Not a valid Dropbox path; routes map it to their `malformed_path` tag."""


def key_of(parts: tuple[str, ...] | list[str]) -> str:
    return "/" + "/".join(p.lower() for p in parts) if parts else ""


def split_path(path: str) -> tuple[str, ...]:
    """Split "/a/b" into its components; "" is the root. Refuses "//", ".", ".." and a final "/"."""
    if path == "":
        return ()
    if not path.startswith("/") or path.endswith("/"):
        raise MalformedPath(path)
    parts = tuple(path[1:].split("/"))
    if any(p in ("", ".", "..") or len(p) > 255 for p in parts):
        raise MalformedPath(path)
    return parts


@dataclass(slots=True)
class FileNode:
    name: str
    id: str
    rev: str
    data: bytes
    content_hash: str
    client_modified: str
    server_modified: str
    seq: int

    def metadata(self, path_display: str) -> JsonObject:
        return {
            "name": self.name,
            "path_lower": path_display.lower(),
            "path_display": path_display,
            "id": self.id,
            "client_modified": self.client_modified,
            "server_modified": self.server_modified,
            "rev": self.rev,
            "size": len(self.data),
            "is_downloadable": True,
            "content_hash": self.content_hash,
        }


@dataclass(slots=True)
class FolderNode:
    name: str
    id: str
    seq: int

    def metadata(self, path_display: str) -> JsonObject:
        return {
            "name": self.name,
            "path_lower": path_display.lower(),
            "path_display": path_display,
            "id": self.id,
        }


@dataclass(slots=True)
class MountNode:
    """A folder that is the root of another namespace (team folder, member home)."""

    name: str
    id: str
    seq: int
    namespace: Namespace

    def metadata(self, path_display: str) -> JsonObject:
        return {
            "name": self.name,
            "path_lower": path_display.lower(),
            "path_display": path_display,
            "id": self.id,
            "shared_folder_id": self.namespace.id,
        }


Node = FileNode | FolderNode | MountNode


@dataclass(slots=True)
class Namespace:
    id: str
    name: str
    nodes: dict[str, Node] = field(default_factory=dict)  # key: "/a/b" lower-cased

    def display_of(self, key: str) -> str:
        """Display path of an existing key, from the names its ancestors were created with."""
        parts = key.strip("/").split("/")
        names = [self.nodes["/" + "/".join(parts[: i + 1])].name for i in range(len(parts))]
        return "/" + "/".join(names)


@dataclass(frozen=True, slots=True)
class Location:
    """Where a request path points: a namespace, components in it, and the caller's prefix."""

    namespace: Namespace
    parts: tuple[str, ...]
    prefix: str  # display path, in the caller's view, of `namespace`'s root ("" if none)

    @property
    def key(self) -> str:
        return key_of(self.parts)

    def display(self) -> str:
        """Caller-view display path: stored names where they exist, else the request's case."""
        names = []
        for i, part in enumerate(self.parts):
            node = self.namespace.nodes.get(key_of(self.parts[: i + 1]))
            names.append(node.name if node is not None else part)
        return self.prefix + ("/" + "/".join(names) if names else "")
