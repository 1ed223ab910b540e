"""Start-up self-checks: the ledger on a local disk, free space, enough inotify watches.

SQLite over SMB/NFS corrupts (specs/reliability.md §2), so a state directory on a network
filesystem stops picsync with a clear message. A tree with more folders than inotify watches
left would be watched only in part (watchdog swallows the error for sub-folders), so such a
source is scanned on a timer instead, with a warning.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "9p",
        "afs",
        "ceph",
        "glusterfs",
        "fuse.sshfs",
        "fuse.rclone",
        "fuse.s3fs",
        "davfs",
        "fuse.davfs2",
    }
)
LOW_SPACE_BYTES = 1 << 30  # below 1 GiB free, the spool can fill in one busy clinic day
LOW_SPACE_FRACTION = 0.05
WATCH_MARGIN = 1024  # leave room for other programs of the same user


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (\\040 and so on)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def filesystem_of(path: Path, mountinfo: str) -> str | None:
    """The filesystem type of the mount holding ``path``, from /proc/self/mountinfo text."""
    best: tuple[int, str] | None = None
    target = str(path.resolve())
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5 or not right:
            continue
        mount_point = _unescape(fields[4])
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and (best is None or len(mount_point) > best[0]):
            best = (len(mount_point), right.split()[0])
    return None if best is None else best[1]


def network_filesystem_problem(path: Path, mountinfo: str) -> str | None:
    kind = filesystem_of(path, mountinfo)
    if kind in NETWORK_FILESYSTEMS:
        return (
            f"state_dir is on a network filesystem ({kind}); its SQLite ledger needs a local "
            "disk: point state_dir at a local folder"
        )
    return None


def low_space_problem(path: Path) -> str | None:
    usage = shutil.disk_usage(path)
    if usage.free < LOW_SPACE_BYTES or usage.free < usage.total * LOW_SPACE_FRACTION:
        percent = usage.free * 100 // max(1, usage.total)
        return (
            f"only {usage.free >> 20} MiB ({percent} %) free for the spool and ledger; "
            "files keep arriving while uploads wait"
        )
    return None


@dataclass(frozen=True, slots=True)
class WatchBudget:
    limit: int  # fs.inotify.max_user_watches
    needed: int  # folders under the inotify sources

    @property
    def short(self) -> bool:
        return self.needed > self.limit - WATCH_MARGIN


def count_folders(roots: Iterable[Path], cap: int) -> int:
    """Folders under ``roots`` (each root counted), stopping once past ``cap``."""
    count = 0
    for root in roots:
        for _folder, _dirs, _files in os.walk(root):  # symlinks are not followed
            count += 1
            if count > cap:
                return count
    return count


def max_user_watches(proc: Path = Path("/proc/sys/fs/inotify/max_user_watches")) -> int | None:
    try:
        return int(proc.read_text().strip())
    except (OSError, ValueError):
        return None
