"""Box backend: which Box Zone holds the destination folder, checked against the declared region.

A Box file lives in the zone of the user who owns its folder (docs.box.com, "assigning zones
through the admin console"), so the zone that matters is that of the destination folder's
owner, read through ``storage_policy_assignments?resolved_for_type=user`` and
``storage_policies/{id}``. Those are admin-oriented endpoints: a service account without the
right gets 403, and the region then stays declared only, which is said plainly.

Zone names are free text such as "US", "Frankfurt / Dublin", "Montreal / Dublin" or
"Tokyo & Singapore": a primary location, then where the copies live. ``ZONE_REGIONS`` is
best knowledge (Box's examples, its zone announcements), not a published list: the primary
(first) location decides the region; a name the table does not know is reported, not guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from box_sdk_gen.box.errors import BoxAPIError
from box_sdk_gen.client import BoxClient
from box_sdk_gen.managers.storage_policy_assignments import (
    GetStoragePolicyAssignmentsResolvedForType,
)

from picsync.destinations.box_errors import status_of
from picsync.errors import BlockedError

# picsync region code -> words that name it in a Box storage policy (lower case).
ZONE_REGIONS: dict[str, tuple[str, ...]] = {
    "us": ("us", "usa", "united states"),
    "ca": ("canada", "montreal", "toronto"),
    "ie": ("ireland", "dublin"),
    "de": ("germany", "frankfurt"),
    "fr": ("france", "paris"),
    "uk": ("uk", "united kingdom", "london", "cardiff", "manchester"),
    "jp": ("japan", "tokyo", "osaka"),
    "sg": ("singapore",),
    "au": ("australia", "sydney", "melbourne"),
}
_SEPARATORS = re.compile(r"\s*(?:/|&|\+|,|\band\b)\s*", re.IGNORECASE)
_FORBIDDEN = (403, 404)


class RegionMismatchError(BlockedError):
    """Box stores the destination folder in another zone than the configuration declares."""


@dataclass(frozen=True, slots=True)
class ZoneCheck:
    """The outcome, as a line for the operator; `verified` is False for "declared only"."""

    verified: bool
    line: str


def region_of(location: str) -> str | None:
    words = location.strip().lower()
    for code, names in ZONE_REGIONS.items():
        if words in names or any(re.search(rf"\b{re.escape(n)}\b", words) for n in names):
            return code
    return None


def zone_regions(name: str) -> tuple[str | None, list[str]]:
    """(region of the primary location, locations of the copies) of a storage policy name."""
    locations = [p for p in _SEPARATORS.split(name.strip()) if p]
    if not locations:
        return None, []
    return region_of(locations[0]), locations[1:]


def check_zone(client: BoxClient, owner_id: str, declared: str) -> ZoneCheck:
    """Compare the owner's zone with `declared`; RegionMismatchError if Box says otherwise."""
    try:
        assignments = client.storage_policy_assignments.get_storage_policy_assignments(
            GetStoragePolicyAssignmentsResolvedForType.USER, owner_id
        )
        entries = assignments.entries or []
        policy = entries[0].storage_policy if entries else None
        if policy is None:
            return ZoneCheck(False, f"region {declared} declared only (Box reported no zone)")
        name = client.storage_policies.get_storage_policy_by_id(policy.id).name or ""
    except BoxAPIError as exc:
        if status_of(exc) not in _FORBIDDEN:
            raise
        return ZoneCheck(
            False,
            f"region {declared} declared only (the service account may not read its "
            "storage policy)",
        )
    primary, copies = zone_regions(name)
    copies_text = f" (copies kept in {', '.join(copies)})" if copies else ""
    if primary is None:
        return ZoneCheck(
            False,
            f"region {declared} declared only (Box Zone {name!r} is not in picsync's zone "
            "table; compare it yourself)",
        )
    if primary != declared:
        raise RegionMismatchError(
            f"Box stores this folder in Box Zone {name!r}, region {primary}{copies_text}, "
            f"but the configuration declares region {declared}: move the folder to an owner "
            "in the declared zone, or correct `region` after checking the residency policy"
        )
    return ZoneCheck(True, f"Box Zone {name!r} is region {primary}, as declared{copies_text}")
