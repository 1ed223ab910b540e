"""Dropbox emulator storage: namespaces, files, folders, write modes and quota (no HTTP).

Paths are case-insensitive (keys are lower-cased) and keep the case they were created with
(`path_display`). A namespace can mount another one at a folder (team root → team folders
and member homes), as Dropbox team spaces do. Write rules follow `files.WriteMode`: an empty
target is written; a folder is a conflict; identical content is not written and is no conflict
(unless strict_conflict); otherwise add → conflict, overwrite → new rev, update → new rev only if
the rev matches. Every mutation takes one lock, so concurrent requests see a consistent store.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .dropbox_nodes import (
    FileNode,
    FolderNode,
    Location,
    MountNode,
    Namespace,
    Node,
    key_of,
    split_path,
)
from .dropbox_wire import JsonObject, content_hash, dropbox_time, new_id

# Names Dropbox refuses to store (its desktop client ignores them too).
DISALLOWED_NAMES = frozenset({"desktop.ini", "thumbs.db", ".ds_store", "icon\r", ".dropbox"})


class WriteRejected(Exception):
    """A WriteError; `error` is its JSON value, e.g. {".tag": "conflict", ...}."""

    def __init__(self, error: JsonObject) -> None:
        super().__init__(error)
        self.error = error


class LookupFailed(Exception):
    """A LookupError; `error` is its JSON value, e.g. {".tag": "not_found"}."""

    def __init__(self, error: JsonObject) -> None:
        super().__init__(error)
        self.error = error


def conflict(kind: str) -> WriteRejected:
    return WriteRejected({".tag": "conflict", "conflict": {".tag": kind}})


@dataclass(frozen=True, slots=True)
class Commit:
    """One write that changed the store (a new file or a new revision)."""

    namespace_id: str
    path_lower: str
    rev: str
    size: int
    content_hash: str
    created: bool


def _free_name(name: str, taken: Callable[[str], bool], *, conflicted: bool, folder: bool) -> str:
    stem, dot, ext = name.rpartition(".")
    if folder or not stem:
        stem, dot, ext = name, "", ""
    for n in range(1, 10_000):
        label = str(n)
        if conflicted:
            label = "conflicted copy" if n == 1 else f"conflicted copy {n}"
        candidate = f"{stem} ({label}){dot}{ext}"
        if not taken(candidate):
            return candidate
    raise WriteRejected({".tag": "other"})


class Store:
    """All namespaces of the emulated account, guarded by one lock."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.namespaces: dict[str, Namespace] = {}
        self.quota: int | None = None
        self.commits: list[Commit] = []
        self._seq = 0
        self._rev_prefix = secrets.token_hex(3)
        self._next_namespace_id = 1_000_000 + secrets.randbelow(1_000_000)

    # ---- namespaces --------------------------------------------------------------------

    def new_namespace(self, name: str) -> Namespace:
        with self.lock:
            self._next_namespace_id += 1
            namespace = Namespace(str(self._next_namespace_id), name)
            self.namespaces[namespace.id] = namespace
            return namespace

    def mount(self, parent: Namespace, name: str, child: Namespace) -> None:
        with self.lock:
            key = key_of((name,))
            if key in parent.nodes:
                raise conflict("folder")
            parent.nodes[key] = MountNode(name, new_id("id:"), self._bump(), child)

    def used_bytes(self) -> int:
        with self.lock:
            return sum(
                len(node.data)
                for namespace in self.namespaces.values()
                for node in namespace.nodes.values()
                if isinstance(node, FileNode)
            )

    # ---- resolving paths ---------------------------------------------------------------

    def locate(self, namespace: Namespace, path: str) -> Location:
        """Resolve a path, entering mounted namespaces for components below a mount point."""
        if path.startswith("ns:"):
            ns_id, _, rest = path[3:].partition("/")
            mounted = self.namespaces.get(ns_id)
            if mounted is None:
                raise LookupFailed({".tag": "not_found"})
            return self.locate(mounted, "/" + rest if rest else "")
        if path.startswith("id:"):
            return self._locate_id(namespace, path)
        parts = split_path(path)
        with self.lock:
            base, prefix = 0, ""
            for i in range(len(parts) - 1):  # a mount as the LAST component is the folder itself
                node = namespace.nodes.get(key_of(parts[base : i + 1]))
                if isinstance(node, MountNode):
                    prefix = Location(namespace, parts[base : i + 1], prefix).display()
                    namespace, base = node.namespace, i + 1
            return Location(namespace, parts[base:], prefix)

    def _locate_id(self, namespace: Namespace, file_id: str) -> Location:
        for display, node in self.walk(Location(namespace, (), ""), recursive=True):
            if node.id == file_id:
                return self.locate(namespace, display)
        raise LookupFailed({".tag": "not_found"})

    def lookup(self, location: Location) -> Node:
        with self.lock:
            node = location.namespace.nodes.get(location.key)
            if node is None:
                raise LookupFailed({".tag": "not_found"})
            return node

    def walk(self, location: Location, *, recursive: bool) -> list[tuple[str, Node]]:
        """(caller-view display path, node) below a folder location, in path order."""
        found: list[tuple[str, Node]] = []
        with self.lock:
            self._walk_into(found, location, recursive=recursive)
        return sorted(found, key=lambda entry: entry[0].lower())

    def _walk_into(
        self, found: list[tuple[str, Node]], location: Location, *, recursive: bool
    ) -> None:
        namespace, base = location.namespace, location.key
        node = namespace.nodes.get(base) if base else None
        if isinstance(node, MountNode):
            inner = Location(node.namespace, (), location.display())
            self._walk_into(found, inner, recursive=recursive)
            return
        depth = base.count("/") + 1
        for key, child in namespace.nodes.items():
            if not key.startswith(base + "/") or (not recursive and key.count("/") != depth):
                continue
            display = location.prefix + namespace.display_of(key)
            found.append((display, child))
            if recursive and isinstance(child, MountNode):
                self._walk_into(found, Location(child.namespace, (), display), recursive=True)

    # ---- writes ------------------------------------------------------------------------

    def write_file(
        self,
        location: Location,
        data: bytes,
        *,
        mode: str = "add",
        rev: str | None = None,
        autorename: bool = False,
        strict_conflict: bool = False,
        client_modified: str | None = None,
    ) -> tuple[FileNode, str, bool]:
        """Apply one commit. Returns (node, caller-view display path, whether it wrote)."""
        new_hash = content_hash(data)
        with self.lock:
            namespace, parts = location.namespace, list(location.parts)
            if not parts:
                raise WriteRejected({".tag": "malformed_path"})
            if parts[-1].lower() in DISALLOWED_NAMES:
                raise WriteRejected({".tag": "disallowed_name"})
            self._check_ancestors(namespace, parts)
            existing = namespace.nodes.get(key_of(parts))
            decision = self._decide(existing, mode, rev, strict_conflict, new_hash)
            if decision == "same":
                assert isinstance(existing, FileNode)
                return existing, location.display(), False
            if decision != "write":
                if not autorename:
                    raise conflict(decision)
                parts[-1] = self._free(namespace, parts, conflicted=mode == "update", folder=False)
                existing = None
            replaced = len(existing.data) if isinstance(existing, FileNode) else 0
            self._check_quota(len(data) - replaced)
            self._make_parents(namespace, parts)
            now = dropbox_time(self.clock())
            node = FileNode(
                name=existing.name if existing is not None else parts[-1],
                id=existing.id if existing is not None else new_id("id:"),
                rev=self._new_rev(),
                data=bytes(data),
                content_hash=new_hash,
                client_modified=client_modified or now,
                server_modified=now,
                seq=self._bump(),
            )
            key = key_of(parts)
            namespace.nodes[key] = node
            commit = Commit(namespace.id, key, node.rev, len(data), new_hash, existing is None)
            self.commits.append(commit)
            return node, Location(namespace, tuple(parts), location.prefix).display(), True

    def create_folder(self, location: Location, *, autorename: bool = False) -> tuple[Node, str]:
        with self.lock:
            namespace, parts = location.namespace, list(location.parts)
            if not parts:
                raise WriteRejected({".tag": "malformed_path"})
            if parts[-1].lower() in DISALLOWED_NAMES:
                raise WriteRejected({".tag": "disallowed_name"})
            self._check_ancestors(namespace, parts)
            existing = namespace.nodes.get(key_of(parts))
            if existing is not None:
                if not autorename:
                    raise conflict("file" if isinstance(existing, FileNode) else "folder")
                parts[-1] = self._free(namespace, parts, conflicted=False, folder=True)
            self._make_parents(namespace, parts)
            node = FolderNode(parts[-1], new_id("id:"), self._bump())
            namespace.nodes[key_of(parts)] = node
            return node, Location(namespace, tuple(parts), location.prefix).display()

    @staticmethod
    def _decide(
        existing: Node | None, mode: str, rev: str | None, strict: bool, new_hash: str
    ) -> str:
        """ "write", "same" (identical content: nothing to do) or a conflict kind."""
        if existing is None:
            # strict_conflict: an update of a file that is not there (any more) conflicts.
            return "file" if mode == "update" and strict else "write"
        if not isinstance(existing, FileNode):
            return "folder"
        if existing.content_hash == new_hash and not strict:
            return "same"
        if mode == "overwrite":
            return "write"
        if mode == "update" and rev == existing.rev:
            return "write"
        return "file"

    def _check_ancestors(self, namespace: Namespace, parts: list[str]) -> None:
        for i in range(1, len(parts)):
            if isinstance(namespace.nodes.get(key_of(parts[:i])), FileNode):
                raise conflict("file_ancestor")

    def _make_parents(self, namespace: Namespace, parts: list[str]) -> None:
        for i in range(1, len(parts)):
            key = key_of(parts[:i])
            if key not in namespace.nodes:
                namespace.nodes[key] = FolderNode(parts[i - 1], new_id("id:"), self._bump())

    def _free(
        self, namespace: Namespace, parts: list[str], *, conflicted: bool, folder: bool
    ) -> str:
        def taken(candidate: str) -> bool:
            return key_of([*parts[:-1], candidate]) in namespace.nodes

        return _free_name(parts[-1], taken, conflicted=conflicted, folder=folder)

    def _check_quota(self, growth: int) -> None:
        if self.quota is not None and growth > 0 and self.used_bytes() + growth > self.quota:
            raise WriteRejected({".tag": "insufficient_space"})

    def _new_rev(self) -> str:
        # Real revs are >= 9 lower-case hex digits; the SDK's validator rejects shorter ones.
        return f"{self._rev_prefix}{self._bump():09x}"

    def _bump(self) -> int:
        self._seq += 1
        return self._seq

    @property
    def seq(self) -> int:
        return self._seq

    # ---- reading for tests -------------------------------------------------------------

    def files(self, namespace: Namespace) -> dict[str, bytes]:
        with self.lock:
            return {k: n.data for k, n in namespace.nodes.items() if isinstance(n, FileNode)}

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                ns.id: {"name": ns.name, "files": sorted(self.files(ns))}
                for ns in self.namespaces.values()
            }
