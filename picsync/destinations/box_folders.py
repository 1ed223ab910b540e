"""Box backend: folder ids for remote paths, created on demand and cached durably.

Box addresses folders by id, picsync by path. The root is ``folder_id`` or ``folder_path``
(resolved once by listing from "All Files"; never created, so a typo cannot silently open a
folder nobody watches). Below it, ``ensure`` creates each missing folder and remembers its id
in the destination's durable cache (the ledger), keyed by the lower-cased path because Box
names are case-insensitive. A create answered 409 item_name_in_use reuses the existing
folder's id from ``context_info``.

Box has created duplicate same-name folders under concurrent creates (box-node-sdk#574), so
folder creation is serialised per parent folder within this process: a second thread waits,
then finds the id the first one cached.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from box_sdk_gen.box.errors import BoxAPIError
from box_sdk_gen.client import BoxClient
from box_sdk_gen.managers.folders import CreateFolderParent

from picsync.destinations.box_errors import conflict_of, status_of
from picsync.errors import BlockedError, PermanentError

if TYPE_CHECKING:
    from picsync.destinations import KeyValueCache

ROOT = "0"
_PAGE = 1000


class FolderTree:
    """Maps folder paths below the destination root to Box folder ids."""

    def __init__(
        self,
        client: BoxClient,
        cache: KeyValueCache,
        *,
        folder_id: str | None,
        folder_path: str | None,
    ) -> None:
        self._client = client
        self._cache = cache
        self._folder_id = folder_id
        self._folder_path = folder_path
        self._guard = threading.Lock()
        self._parent_locks: dict[str, threading.Lock] = {}

    # ---- the root ----------------------------------------------------------------------

    def root(self) -> str:
        if self._folder_id is not None:
            return self._folder_id
        assert self._folder_path is not None
        key = "root:" + self._folder_path.lower()
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        current = ROOT
        for name in [p for p in self._folder_path.split("/") if p]:
            found = self._find_child_folder(current, name)
            if found is None:
                raise BlockedError(
                    "the Box folder_path does not exist or is not shared with the service "
                    "account: create it (or share it with the service account as Editor)"
                )
            current = found
        self._cache.put(key, current)
        return current

    # ---- folders below the root --------------------------------------------------------

    def ensure(self, parts: Sequence[str]) -> str:
        """The id of root/parts..., creating missing folders."""
        current = self.root()
        for depth in range(1, len(parts) + 1):
            key = self._path_key(parts[:depth])
            cached = self._cache.get(key)
            if cached is None:
                with self._lock_for(current):
                    cached = self._cache.get(key)  # another thread may have made it meanwhile
                    if cached is None:
                        cached = self._create(current, parts[depth - 1])
                        self._cache.put(key, cached)
            current = cached
        return current

    def lookup(self, parts: Sequence[str]) -> str | None:
        """The id of root/parts..., or None if a folder on the way is missing. Creates nothing."""
        current = self.root()
        for depth in range(1, len(parts) + 1):
            key = self._path_key(parts[:depth])
            cached = self._cache.get(key)
            if cached is None:
                cached = self._find_child_folder(current, parts[depth - 1])
                if cached is None:
                    return None
                self._cache.put(key, cached)
            current = cached
        return current

    def forget(self, parts: Sequence[str]) -> None:
        """Drop cached ids of root/parts and its ancestors (a folder was deleted on Box)."""
        for depth in range(1, len(parts) + 1):
            self._cache.delete(self._path_key(parts[:depth]))
        if self._folder_path is not None:
            self._cache.delete("root:" + self._folder_path.lower())

    # ---- helpers -----------------------------------------------------------------------

    def _path_key(self, parts: Sequence[str]) -> str:
        root = self._folder_id if self._folder_id is not None else f"path:{self._folder_path}"
        return f"folder:{root}:" + "/".join(p.lower() for p in parts)

    def _lock_for(self, parent_id: str) -> threading.Lock:
        with self._guard:
            return self._parent_locks.setdefault(parent_id, threading.Lock())

    def _create(self, parent_id: str, name: str) -> str:
        try:
            folder = self._client.folders.create_folder(name, CreateFolderParent(id=parent_id))
        except BoxAPIError as exc:
            conflict = conflict_of(exc)
            if conflict is None:
                raise
            if conflict.kind != "folder":
                raise PermanentError(
                    "a file on Box occupies a folder name of the remote path"
                ) from exc
            return conflict.id
        return str(folder.id)

    def _find_child_folder(self, parent_id: str, name: str) -> str | None:
        wanted = name.lower()
        marker: str | None = None
        while True:
            try:
                page = self._client.folders.get_folder_items(
                    parent_id,
                    fields=["type", "id", "name"],
                    usemarker=True,
                    marker=marker,
                    limit=_PAGE,
                )
            except BoxAPIError as exc:
                if status_of(exc) == 404:
                    return None
                raise
            for entry in page.entries or []:
                kind = getattr(entry.type, "value", entry.type)
                if kind == "folder" and str(getattr(entry, "name", "")).lower() == wanted:
                    return str(entry.id)
            marker = page.next_marker or None
            if marker is None:
                return None
