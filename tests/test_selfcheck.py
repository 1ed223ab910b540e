"""Start-up self-checks: where the ledger lives, free space, inotify watches."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from picsync.selfcheck import (
    WatchBudget,
    count_folders,
    filesystem_of,
    low_space_problem,
    max_user_watches,
    network_filesystem_problem,
)

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:40 / /srv/share rw,relatime shared:20 - cifs //nas/clinic rw,vers=3.1.1
31 22 0:41 / /srv/share/local\\040copy rw,relatime - ext4 /dev/sdb1 rw
32 22 0:42 / /mnt/nfs rw - nfs4 nas:/export rw
33 22 0:43 / /mnt/nfsish rw - ext4 /dev/sdc1 rw
"""


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/var/lib/picsync", "ext4"),
        ("/srv/share/picsync-state", "cifs"),
        ("/srv/share/local copy/state", "ext4"),
        ("/mnt/nfs/state", "nfs4"),
        ("/mnt/nfsish/state", "ext4"),  # a longer name is not inside the shorter mount
    ],
)
def test_filesystem_of_takes_the_longest_mount(path: str, kind: str) -> None:
    assert filesystem_of(Path(path), MOUNTINFO) == kind


def test_a_ledger_on_a_network_share_is_refused() -> None:
    problem = network_filesystem_problem(Path("/srv/share/state"), MOUNTINFO)
    assert problem is not None and "cifs" in problem and "local" in problem
    assert network_filesystem_problem(Path("/var/lib/picsync"), MOUNTINFO) is None


def test_this_machines_temp_folder_is_local(tmp_path: Path) -> None:
    mountinfo = Path("/proc/self/mountinfo").read_text()
    assert network_filesystem_problem(tmp_path, mountinfo) is None
    assert filesystem_of(tmp_path, mountinfo) is not None


def test_low_space_is_reported(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(tiny)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("this machine does not allow mounting tmpfs")
    try:
        problem = low_space_problem(tiny)
        assert problem is not None and "MiB" in problem and "free" in problem
    finally:
        subprocess.run(["umount", "-l", str(tiny)], check=False)


def test_watch_budget_counts_folders(tmp_path: Path) -> None:
    for i in range(30):
        (tmp_path / f"day{i}" / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "day0", target_is_directory=True)
    assert count_folders([tmp_path], cap=10_000) == 61  # the root, 30 days, 30 subs; no link
    assert count_folders([tmp_path], cap=5) == 6  # stops once past the cap
    assert WatchBudget(limit=2000, needed=61).short is False
    assert WatchBudget(limit=1050, needed=61).short is True  # within the margin
    assert (max_user_watches() or 1) > 0
