"""Pure: what an alert is, and the only code that turns alert facts into words.

Alerts leave the station (a webhook, a mailbox), so they must carry no patient data. Callers
hand over structured facts only (a kind, a configured destination or source name, counts, ages,
byte counts and a short reason that they promise is PHI-free); the words are built here. As a
second line of defence every name and reason passes through `scrub_text` / `safe_name`, which
strip anything that looks like a path, a URL or a file name: clinic file names are patient names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

REASON_MAX_CHARS = 160
REDACTED = "<redacted>"

# A configured name (station, destination, source) as the config accepts it. Anything else is
# not a name we gave it and is shown as REDACTED.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

# Where a path or URL starts: a scheme, a drive letter, a UNC share, a home-relative or an
# absolute POSIX path after a boundary. Everything from there to the next quote or the end of the
# text goes, because a folder name may contain spaces ("Doe Jane 1970-01-01").
_PATH_START = re.compile(
    r"""(?:
        [A-Za-z][A-Za-z0-9+.-]*://          # scheme://...
      | (?<![A-Za-z0-9])[A-Za-z]:[\\/]      # C:\  C:/
      | \\\\                                # \\server\share
      | (?<![^\s'"`(\[=:,;])~?/(?=[^\s/])   # /srv/...  ~/...
    )[^'"`]*""",
    re.VERBOSE,
)
# What may remain: any token with a separator, or that looks like a file name with a known
# extension ("IMG_0042.JPG" in a reason is as bad as its folder).
_PATH_TOKEN = re.compile(r"[^\s'\"`]*[\\/][^\s'\"`]*")
_FILE_TOKEN = re.compile(
    r"[^\s'\"`]+\.(?:jpe?g|jfif|png|tiff?|dng|cr[23w]|nef|arw|orf|rw2|raf|raw|heic|heif|avif"
    r"|webp|bmp|gif|pdf|dcm|dicom|jp2|j2k|age|part|json|ya?ml|txt|xml|csv)\b",
    re.IGNORECASE,
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def scrub_text(text: str, limit: int = REASON_MAX_CHARS) -> str:
    """`text` on one line, without paths, URLs or file names, at most `limit` characters."""
    text = _CONTROL.sub(" ", text)
    text = _PATH_START.sub(REDACTED, text)
    # A lone "/" (as in "errno 13 / denied") is punctuation, not a path.
    text = _PATH_TOKEN.sub(lambda m: m[0] if not m[0].strip("\\/") else REDACTED, text)
    text = _FILE_TOKEN.sub(REDACTED, text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def safe_name(name: str) -> str:
    """A configured name as it is, anything else (a path passed by mistake) as REDACTED."""
    return name if _SAFE_NAME.fullmatch(name) else REDACTED


class AlertKind(StrEnum):
    """The conditions that call for a person. The value is the stable wire name."""

    DELIVERY_DEAD = "delivery_dead"  # subject: destination
    DESTINATION_BLOCKED = "destination_blocked"  # subject: destination
    BACKLOG_OLD = "backlog_old"  # subject: destination
    SPOOL_LOW_SPACE = "spool_low_space"  # subject: "spool" (or a spool name)
    WATCHER_POLLING = "watcher_polling"  # subject: source


class AlertState(StrEnum):
    """Which notice of an incident this is."""

    FIRING = "firing"  # the incident started
    REMINDER = "reminder"  # it still holds after the reminder interval
    RESOLVED = "resolved"  # the caller reported the condition gone


@dataclass(frozen=True, slots=True)
class Facts:
    """The structured, PHI-free details of a condition; `reason` is scrubbed on construction."""

    count: int | None = None  # dead or pending deliveries
    age_s: float | None = None  # age of the oldest pending delivery
    threshold_s: float | None = None  # the age that counts as too old
    free_bytes: int | None = None  # free space on the spool's file system
    min_free_bytes: int | None = None  # the space that counts as too little
    reason: str = ""  # short, PHI-free by the caller's promise; scrubbed anyway

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", scrub_text(self.reason))

    def as_dict(self) -> dict[str, int | float | str]:
        """The facts that are set, for machine-readable payloads."""
        out: dict[str, int | float | str] = {}
        for name in ("count", "age_s", "threshold_s", "free_bytes", "min_free_bytes"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True, slots=True)
class Alert:
    """One notice to send. Built by `make_alert` only, so every text in it is ours."""

    kind: AlertKind
    state: AlertState
    subject: str  # safe_name of the incident's subject
    station: str  # safe_name of the station
    time: float  # epoch seconds of this notice
    since: float  # epoch seconds when the incident started
    facts: Facts
    held_back: int  # other incidents waiting for room under the hourly cap
    summary: str = field(default="")  # one line: e-mail subject, chat headline
    message: str = field(default="")  # a few sentences for a person


def make_alert(
    kind: AlertKind,
    state: AlertState,
    subject: str,
    station: str,
    time: float,
    since: float,
    facts: Facts,
    held_back: int = 0,
) -> Alert:
    """An Alert with its summary and message rendered from the facts."""
    subject, station = safe_name(subject) if subject else "", safe_name(station)
    headline, body = _words(kind, state, subject, facts)
    lines = [body]
    if held_back:
        lines.append(f"{held_back} other alert(s) wait for room under the hourly alert limit.")
    lines.append(
        f"Station {station}; {state.value} at {iso_utc(time)}; the incident began "
        f"{iso_utc(since)}. This notice contains no patient data."
    )
    return Alert(
        kind=kind,
        state=state,
        subject=subject,
        station=station,
        time=time,
        since=since,
        facts=facts,
        held_back=held_back,
        summary=headline,
        message="\n\n".join(lines),
    )


def _words(kind: AlertKind, state: AlertState, subject: str, facts: Facts) -> tuple[str, str]:
    """(headline, body) for one notice."""
    dest = f"destination {subject}" if subject else "a destination"
    why = f" ({facts.reason})" if facts.reason else ""
    if state is AlertState.RESOLVED:
        headline = _RESOLVED[kind].format(dest=dest, source=subject or "a source")
        return headline, "The condition of the earlier alert no longer holds; nothing needs doing."
    still = "Still: " if state is AlertState.REMINDER else ""
    if kind is AlertKind.DELIVERY_DEAD:
        n = "Some" if facts.count is None else str(facts.count)
        return (
            f"{still}Deliveries to {dest} failed for good",
            f"{n} deliveries to {dest} failed permanently and will not be retried{why}. "
            "They stay in the ledger; a person must look at them (picsync status).",
        )
    if kind is AlertKind.DESTINATION_BLOCKED:
        return (
            f"{still}Uploads to {dest} are blocked",
            f"The {dest} refuses uploads until a person acts: "
            f"{facts.reason or 'for example a revoked token or a full quota'}. "
            "Uploads to it are paused; files wait safely in the queue.",
        )
    if kind is AlertKind.BACKLOG_OLD:
        age = "long" if facts.age_s is None else format_duration(facts.age_s)
        limit = (
            "" if facts.threshold_s is None else f" (limit {format_duration(facts.threshold_s)})"
        )
        pending = "" if facts.count is None else f" {facts.count} deliveries are pending."
        return (
            f"{still}Uploads to {dest} are falling behind",
            f"The oldest pending delivery to {dest} has waited {age}{limit} although its upload "
            f"window is open{why}.{pending}",
        )
    if kind is AlertKind.SPOOL_LOW_SPACE:
        free = "little" if facts.free_bytes is None else format_bytes(facts.free_bytes)
        limit = (
            "" if facts.min_free_bytes is None else f" (limit {format_bytes(facts.min_free_bytes)})"
        )
        return (
            f"{still}The spool disk is nearly full",
            f"The disk that holds the spool has only {free} free{limit}{why}. When it is full, "
            "new images wait in their folders until space is freed.",
        )
    source = f"source {subject}" if subject else "a source"
    return (
        f"{still}Watching {source} fell back to polling",
        f"The watcher could not use change events for {source}{why} and polls it instead. "
        "New files are still found, but later and at more disk load; check the inotify limits "
        "or the network share.",
    )


_RESOLVED = {
    AlertKind.DELIVERY_DEAD: "Resolved: no dead deliveries remain for {dest}",
    AlertKind.DESTINATION_BLOCKED: "Resolved: {dest} accepts uploads again",
    AlertKind.BACKLOG_OLD: "Resolved: uploads to {dest} have caught up",
    AlertKind.SPOOL_LOW_SPACE: "Resolved: the spool disk has enough free space again",
    AlertKind.WATCHER_POLLING: "Resolved: watching source {source} uses change events again",
}


def iso_utc(epoch: float) -> str:
    """Epoch seconds as ISO 8601 in UTC, to the second."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def format_duration(seconds: float) -> str:
    """A duration for people: '45 s', '12 min', '3 h 20 min', '2 d 4 h'."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    minutes, hours, days = s // 60, s // 3600, s // 86400
    if s < 3600:
        return f"{minutes} min"
    if s < 86400:
        rest = minutes % 60
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    rest = hours % 24
    return f"{days} d {rest} h" if rest else f"{days} d"


def format_bytes(n: int) -> str:
    """A byte count for people, binary units: '512 B', '3.4 MiB', '1.2 GiB'."""
    value = float(max(0, n))
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
