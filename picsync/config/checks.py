"""Checks that need the whole configuration: references between sections, schedules,
residency, and the folders on disk."""

from __future__ import annotations

from datetime import tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from picsync.config.models import FolderDestinationSettings, Settings
from picsync.config.where import at
from picsync.config.yamlmap import PositionedYaml
from picsync.schedule import parse_bandwidth, parse_window


def check_references(settings: Settings, doc: PositionedYaml) -> list[str]:
    problems = []
    shared_key = settings.privacy.hash_key is not None or settings.privacy.hash_key_file is not None
    for name, dest in settings.destinations.items():
        if "{patient}" in dest.template and not shared_key:
            problems.append(
                at(
                    doc,
                    ("destinations", name, "template"),
                    "{patient} needs privacy.hash_key_file (a secret the clinic keeps): without "
                    "it the pseudonyms would change if this station's state were lost",
                )
            )
    for name, source in settings.sources.items():
        for index, target in enumerate(source.destinations):
            if target not in settings.destinations:
                known = ", ".join(sorted(settings.destinations))
                problems.append(
                    at(
                        doc,
                        ("sources", name, "destinations", index),
                        f"no destination named {target!r} (defined: {known})",
                    )
                )
    return problems


def station_zone(settings: Settings) -> tzinfo:
    return ZoneInfo(settings.timezone)


def check_schedules(settings: Settings, doc: PositionedYaml) -> list[str]:
    """Windows and bandwidth timetables parse, in a time zone that exists."""
    try:
        zone = station_zone(settings)
    except (ZoneInfoNotFoundError, ValueError):
        return [at(doc, ("timezone",), "unknown time zone; use a name like Europe/Berlin")]
    problems = []
    for name, dest in settings.destinations.items():
        for key, parse in (("window", parse_window), ("bandwidth", parse_bandwidth)):
            text = getattr(dest, key)
            if text is None:
                continue
            try:
                parse(text, zone)
            except ValueError as exc:
                problems.append(at(doc, ("destinations", name, key), str(exc)))
        if dest.window and "timezone" not in doc.data:
            problems.append(
                at(
                    doc,
                    ("destinations", name, "window"),
                    "set timezone (e.g. Europe/Berlin) so the window follows the station's clock",
                )
            )
    return problems


def check_residency(settings: Settings, doc: PositionedYaml) -> list[str]:
    """Every route must stay inside the regions the clinic allows (a source may narrow them)."""
    problems = []
    clinic = set(settings.residency.allowed_regions)
    for name, source in settings.sources.items():
        allowed = clinic & set(source.allowed_regions or clinic)
        for index, target in enumerate(source.destinations):
            dest = settings.destinations.get(target)
            if dest is not None and dest.region not in allowed:
                problems.append(
                    at(
                        doc,
                        ("sources", name, "destinations", index),
                        f"route {name} -> {target} would store files in region {dest.region!r}, "
                        f"outside the regions allowed for source {name!r}: "
                        f"{', '.join(sorted(allowed)) or 'none'}",
                    )
                )
    return problems


def check_filesystem(settings: Settings, doc: PositionedYaml) -> list[str]:
    problems = []
    for name, source in settings.sources.items():
        if not source.path.is_dir():
            problems.append(
                at(doc, ("sources", name, "path"), "folder does not exist or is not a folder")
            )
    roots = [(name, src.path.resolve()) for name, src in settings.sources.items()]
    for name, dest in settings.destinations.items():
        if isinstance(dest, FolderDestinationSettings):
            target = dest.path.resolve()
            for source_name, root in roots:
                if target == root or root in target.parents or target in root.parents:
                    problems.append(
                        at(
                            doc,
                            ("destinations", name, "path"),
                            f"overlaps the watched folder of source {source_name!r}",
                        )
                    )
    for name, source in settings.sources.items():
        if source.archive_dir is None:
            continue
        archive = source.archive_dir.resolve()
        for other, root in roots:
            if archive == root or root in archive.parents:
                problems.append(
                    at(
                        doc,
                        ("sources", name, "archive_dir"),
                        f"lies inside the watched folder of source {other!r}; it must be outside "
                        "every watched folder, or archived files would be taken again",
                    )
                )
        if not archive.is_dir():
            problems.append(
                at(
                    doc,
                    ("sources", name, "archive_dir"),
                    "folder does not exist or is not a folder",
                )
            )
    state = settings.state_dir.resolve()
    for source_name, root in roots:
        if state == root or root in state.parents:
            problems.append(
                at(doc, ("state_dir",), f"lies inside the watched folder of source {source_name!r}")
            )
    if not state.is_dir() and not state.parent.is_dir():
        problems.append(at(doc, ("state_dir",), "neither the folder nor its parent exists"))
    return problems
