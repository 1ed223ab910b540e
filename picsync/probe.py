"""``picsync check --online``: contact every destination and say plainly what works."""

from __future__ import annotations

from collections.abc import Iterator

from picsync.config import Config
from picsync.destinations import DestinationContext, build_destination
from picsync.errors import PicsyncError


class MemoryCache:
    """A probe must not need the daemon's ledger; a throwaway cache is enough."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self._values.get(key)

    def put(self, key: str, value: str) -> None:
        self._values[key] = value

    def delete(self, key: str) -> None:
        self._values.pop(key, None)


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
