"""``picsync verify-remote``: does each destination still hold exactly what the audit log says
was uploaded? Re-reads remote metadata and compares the provider's fingerprint and size."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from picsync.audit import AuditLog
from picsync.config import Config
from picsync.destinations import (
    Destination,
    DestinationContext,
    MemoryCache,
    build_destination,
)
from picsync.errors import PicsyncError


@dataclass(frozen=True, slots=True)
class RemoteObject:
    destination: str
    path: str
    size: int
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Finding:
    item: RemoteObject
    verdict: str  # "ok" | "missing" | "changed" | "unreachable: ..."


def uploaded_objects(audit: AuditLog) -> list[RemoteObject]:
    """The last recorded upload of every remote object, from the chain of custody."""
    latest: dict[tuple[str, str], RemoteObject] = {}
    for record in audit.records():
        if record.get("event") != "uploaded":
            continue
        for obj in record.get("objects", []):
            item = RemoteObject(
                record["destination"], obj["path"], int(obj["size"]), obj["fingerprint"]
            )
            latest[(item.destination, item.path)] = item
    return list(latest.values())


def check_remote(
    config: Config, audit: AuditLog, sample: int | None = None, rng: random.Random | None = None
) -> Iterator[Finding]:
    items = uploaded_objects(audit)
    if sample is not None and sample < len(items):
        items = (rng or random.Random()).sample(items, sample)  # noqa: S311 - a spot check
    destinations: dict[str, Destination] = {}
    for item in sorted(items, key=lambda i: (i.destination, i.path)):
        settings = config.settings.destinations.get(item.destination)
        if settings is None:
            yield Finding(item, "unreachable: destination no longer configured")
            continue
        try:
            if item.destination not in destinations:
                destinations[item.destination] = build_destination(
                    DestinationContext(
                        name=item.destination,
                        settings=settings,
                        secrets={
                            k: v.get_secret_value()
                            for k, v in config.secrets.get(item.destination, {}).items()
                        },
                        cache=MemoryCache(),
                        station=config.settings.station,
                    )
                )
            found = destinations[item.destination].stat(item.path)
        except PicsyncError as exc:
            yield Finding(item, f"unreachable: {exc}")
            continue
        if found is None:
            yield Finding(item, "missing")
        elif found.fingerprint != item.fingerprint or found.size != item.size:
            yield Finding(item, "changed")
        else:
            yield Finding(item, "ok")
