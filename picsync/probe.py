"""``picsync check --online``: contact every destination and say plainly what works."""

from __future__ import annotations

from collections.abc import Iterator

from picsync.config import Config
from picsync.destinations import DestinationContext, MemoryCache, build_destination
from picsync.errors import PicsyncError


def probe_destinations(config: Config) -> Iterator[tuple[str, bool, str]]:
    """(destination, worked, what the operator should read) for each destination."""
    for name, settings in config.settings.destinations.items():
        context = DestinationContext(
            name=name,
            settings=settings,
            secrets={k: v.get_secret_value() for k, v in config.secrets.get(name, {}).items()},
            cache=MemoryCache(),
            station=config.settings.station,
        )
        try:
            yield name, True, build_destination(context).probe()
        except PicsyncError as exc:
            yield name, False, str(exc)
