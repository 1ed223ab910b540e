"""Box emulator storage: users, one folder tree, files with versions, quota (no HTTP).

One tree whose root is folder "0" (the acting user's "All Files"). Every item has an owner:
folders created through the API belong to the caller, a file belongs to the owner of its
folder (Box bills the folder owner's quota and stores the file in the owner's zone). Names are
unique per folder ignoring case, files and folders sharing one namespace. Every write that
stores bytes (a new file or a new version) is appended to `commits`. One lock guards it all.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from .box_wire import BoxFailure, sha1_hex

ROOT_ID = "0"
MAX_NAME = 255
# developer.box.com "Errors" (item_name_invalid): no "/" or "\", no leading or trailing
# spaces, not "." or "..", printable characters only.
_FORBIDDEN_CHARS = frozenset("/\\")

Kind = Literal["file", "folder"]


@dataclass(slots=True)
class User:
    id: str
    name: str
    login: str
    enterprise_id: str
    space_amount: int | None = None  # None: unlimited (Box reports 999999999999999)


@dataclass(slots=True)
class Version:
    id: str
    sha1: str
    data: bytes
    created_at: float


@dataclass(slots=True)
class Item:
    kind: Kind
    id: str
    name: str
    parent_id: str | None
    owner_id: str
    created_at: float
    modified_at: float
    sequence: int = 0
    versions: list[Version] = field(default_factory=list)  # files only, newest last

    @property
    def etag(self) -> str:
        return str(self.sequence)

    @property
    def current(self) -> Version:
        return self.versions[-1]


@dataclass(frozen=True, slots=True)
class Commit:
    """One write that stored bytes."""

    file_id: str
    version_id: str
    name: str
    parent_id: str
    size: int
    sha1: str
    created: bool  # a new file (True) or a new version of one (False)


class ItemNameInUse(Exception):
    def __init__(self, existing: Item) -> None:
        super().__init__(existing.id)
        self.existing = existing


def check_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise BoxFailure(400, "bad_request", "'name' is required")
    if len(name) > MAX_NAME:
        raise BoxFailure(400, "item_name_too_long", "Item name too long")
    bad = (
        name in (".", "..")
        or name != name.strip(" ")
        or any(c in _FORBIDDEN_CHARS or not c.isprintable() for c in name)
    )
    if bad:
        raise BoxFailure(400, "item_name_invalid", "Item name invalid")
    return name


class Store:
    """The emulated enterprise's content, guarded by one lock."""

    def __init__(self, owner: User, clock: Callable[[], float] = time.time) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.users: dict[str, User] = {owner.id: owner}
        self.items: dict[str, Item] = {}
        self.commits: list[Commit] = []
        self.allow_duplicate_folders = False  # emulate Box's concurrent-create race
        self._next_id = 100_000_000 + secrets.randbelow(100_000_000)
        now = clock()
        self.items[ROOT_ID] = Item("folder", ROOT_ID, "All Files", None, owner.id, now, now)

    def new_id(self) -> str:
        with self.lock:
            self._next_id += 1
            return str(self._next_id)

    # ---- reading -----------------------------------------------------------------------

    def get(self, item_id: str, kind: Kind | None = None) -> Item:
        with self.lock:
            item = self.items.get(item_id)
        if item is None or (kind is not None and item.kind != kind):
            raise BoxFailure(404, "not_found", "Not Found")
        return item

    def folder(self, folder_id: str) -> Item:
        return self.get(folder_id, "folder")

    def children(self, folder_id: str) -> list[Item]:
        """Folders first, then files, each by name (Box's default order)."""
        with self.lock:
            found = [i for i in self.items.values() if i.parent_id == folder_id]
        return sorted(found, key=lambda i: (i.kind != "folder", i.name.lower(), i.id))

    def child(self, folder_id: str, name: str) -> Item | None:
        wanted = name.lower()
        with self.lock:
            for item in self.items.values():
                if item.parent_id == folder_id and item.name.lower() == wanted:
                    return item
        return None

    def ancestors(self, item: Item) -> list[Item]:
        """Root first, excluding the item itself."""
        chain: list[Item] = []
        with self.lock:
            parent = item.parent_id
            while parent is not None:
                folder = self.items[parent]
                chain.append(folder)
                parent = folder.parent_id
        return list(reversed(chain))

    def used_bytes(self, user_id: str) -> int:
        with self.lock:
            return sum(
                len(v.data)
                for i in self.items.values()
                if i.kind == "file" and i.owner_id == user_id
                for v in i.versions
            )

    def owner_of_folder(self, folder_id: str) -> User:
        return self.users[self.folder(folder_id).owner_id]

    # ---- checks a write makes before it happens ----------------------------------------

    def check_free(self, folder_id: str, name: str) -> None:
        """Raise ItemNameInUse if `name` is taken in the folder (case-insensitively)."""
        check_name(name)
        self.folder(folder_id)
        existing = self.child(folder_id, name)
        if existing is not None:
            raise ItemNameInUse(existing)

    def check_quota(self, folder_id: str, growth: int) -> None:
        owner = self.owner_of_folder(folder_id)
        if owner.space_amount is None or growth <= 0:
            return
        if self.used_bytes(owner.id) + growth > owner.space_amount:
            raise BoxFailure(403, "storage_limit_exceeded", "Account storage limit reached")

    # ---- writes ------------------------------------------------------------------------

    def create_folder(self, parent_id: str, name: str, owner_id: str) -> Item:
        """Below "All Files" the creator owns the folder; inside another user's folder
        that folder's owner does (Box: the owner of a folder tree owns all of it)."""
        with self.lock:
            check_name(name)
            parent = self.folder(parent_id)
            if parent_id != ROOT_ID:
                owner_id = parent.owner_id
            existing = self.child(parent_id, name)
            if existing is not None and not (
                self.allow_duplicate_folders and existing.kind == "folder"
            ):
                raise ItemNameInUse(existing)
            now = self.clock()
            folder = Item("folder", self.new_id(), name, parent_id, owner_id, now, now)
            self.items[folder.id] = folder
            return folder

    def add_file(self, parent_id: str, name: str, data: bytes) -> Item:
        """A new file; its owner is the folder's owner."""
        with self.lock:
            self.check_free(parent_id, name)
            self.check_quota(parent_id, len(data))
            now = self.clock()
            owner = self.folder(parent_id).owner_id
            item = Item("file", self.new_id(), name, parent_id, owner, now, now)
            item.versions.append(Version(self.new_id(), sha1_hex(data), bytes(data), now))
            self.items[item.id] = item
            self._record(item, created=True)
            return item

    def add_version(self, file_id: str, data: bytes, new_name: str | None = None) -> Item:
        with self.lock:
            item = self.get(file_id, "file")
            assert item.parent_id is not None
            if new_name is not None and new_name.lower() != item.name.lower():
                self.check_free(item.parent_id, new_name)
            self.check_quota(item.parent_id, len(data))
            now = self.clock()
            item.versions.append(Version(self.new_id(), sha1_hex(data), bytes(data), now))
            item.name = new_name or item.name
            item.sequence += 1
            item.modified_at = now
            self._record(item, created=False)
            return item

    def delete(self, item_id: str) -> None:
        """Remove an item and everything below it (as a user deleting it on box.com)."""
        with self.lock:
            doomed = {item_id}
            grew = True
            while grew:
                below = {i.id for i in self.items.values() if i.parent_id in doomed}
                grew = not below <= doomed
                doomed |= below
            for gone in doomed:
                self.items.pop(gone, None)

    def _record(self, item: Item, *, created: bool) -> None:
        assert item.parent_id is not None
        version = item.current
        self.commits.append(
            Commit(
                item.id,
                version.id,
                item.name,
                item.parent_id,
                len(version.data),
                version.sha1,
                created,
            )
        )

    # ---- reading for tests -------------------------------------------------------------

    def path_of(self, item: Item) -> str:
        names = [a.name for a in self.ancestors(item)[1:]] + [item.name]
        return "/".join(names)

    def files(self) -> dict[str, bytes]:
        """{path below "All Files": current bytes} of every file."""
        with self.lock:
            return {
                self.path_of(i): i.current.data for i in self.items.values() if i.kind == "file"
            }
