"""Pure: upload windows and bandwidth timetables, read in the station's local time, DST-safe.

Window (``window:``): comma-separated rules ``[DAYS ]HH:MM-HH:MM``, e.g.
``"Mon-Fri 19:00-07:00, Sat-Sun 00:00-24:00"``. DAYS is a day (Mon..Sun, or the full name, any
case), a range (``Mon-Fri``; ``Fri-Mon`` wraps over the weekend) or several joined with ``+``
(``Mon+Wed+Fri-Sat``); without DAYS a rule holds every day. Times run 00:00..24:00; an end at or
before the start wraps past midnight and belongs to the START day (``Fri 19:00-07:00`` holds
until Saturday 07:00); a start equal to the end is refused as ambiguous (write 00:00-24:00).
Empty text, None or ``always`` is always open. ``never`` is refused: a window that never opens
would let a queue grow in silence; take the destination off the route instead.

Bandwidth (``bandwidth:``): a limit, ``off``, or an rclone ``--bwlimit`` timetable. A limit is
a number with an optional unit B, K, M, G, T (``i``, ``B`` and ``/s`` optional, any case; all
multiples are 1024, as in rclone, and a bare number is KiB/s): ``512KiB/s``, ``1MiB/s``, ``10M``,
``1.5m``. rclone's ``UP:DOWN`` form is accepted and only UP is used (picsync only uploads). A
timetable is space-separated ``[Day-]HH:MM,LIMIT`` entries (``"08:00,512K 19:00,off"``,
``"Mon-08:00,1M Sat-00:00,off"``): each sets the limit from that time until the next entry,
round the week; entries without a day repeat daily.

DST: a window occurrence is ONE stretch of real time, from the first instant the local clock
shows its start to the first instant it shows its end, and a timetable entry applies from the
first instant the clock shows its time. So a wall time that happens twice (fall-back) counts at
its first occurrence, and one the clock skips (spring-forward) takes effect at the jump: a
19:00-07:00 night is 11 h long in spring and 13 h in autumn, never split, lost or doubled, and a
rule lying wholly inside the skipped hour is empty that night. Results are aware UTC datetimes:
Python compares and subtracts two datetimes sharing a zone by their wall reading, ignoring fold.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DAY_NUMBER = {n.lower(): i for names in (DAYS, _FULL) for i, n in enumerate(names)}
_DAY_HELP = "use " + ", ".join(DAYS)
_DAY = 1440  # minutes
# Rules recur weekly and a rule is empty only on a night whose skipped hour swallows it, which
# never happens two weeks running: three weeks of look-ahead always find the next change.
_HORIZON_DAYS = 22
# An instant belongs to an occurrence of its own local date, the day before (a rule past
# midnight) or, where a fall-back crosses midnight, the day after; 2 days back is a safe margin.
_BACK_DAYS = 2

_RULE = re.compile(r"(?:(?P<days>\S+)\s+)?(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})")
_ENTRY = re.compile(r"(?:(?P<day>[A-Za-z]+)-)?(?P<time>\d{1,2}:\d{2}),(?P<rate>\S+)")
_LIMIT = re.compile(r"(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>[kmgt]?i?b?)(?:/s)?", re.I)
_POWER = {"k": 1, "m": 2, "g": 3, "t": 4}


@dataclass(frozen=True, slots=True)
class Rule:
    """Open on ``days`` (0 = Monday) from ``start`` to ``end`` minutes past local midnight."""

    days: frozenset[int]
    start: int
    end: int  # 1..1440; at or before ``start`` means the next day

    def __post_init__(self) -> None:
        if not self.days or not self.days <= set(range(7)):
            raise ValueError(f"rule days must be a non-empty subset of 0..6, got {self.days}")
        if not (0 <= self.start < _DAY and 0 < self.end <= _DAY and self.start != self.end):
            raise ValueError(f"rule times out of range: {self.start}-{self.end} minutes")

    @property
    def span(self) -> tuple[int, int]:
        """Start and end in minutes past the START day's midnight (end may pass 1440)."""
        return self.start, self.end if self.end > self.start else self.end + _DAY


@dataclass(frozen=True, slots=True)
class Window:
    """When uploads may start, in the station's time zone ``tz``; no rules = always open."""

    rules: tuple[Rule, ...]
    tz: tzinfo
    _spans: tuple[tuple[tuple[int, int], ...], ...] = field(init=False, repr=False, compare=False)
    _always: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        spans = [sorted(r.span for r in self.rules if day in r.days) for day in range(7)]
        object.__setattr__(self, "_spans", tuple(tuple(s) for s in spans))
        covered = bytearray(7 * _DAY)
        for day, day_spans in enumerate(spans):
            for start, end in day_spans:
                for minute in range(day * _DAY + start, day * _DAY + end):
                    covered[minute % len(covered)] = 1
        object.__setattr__(self, "_always", not self.rules or all(covered))

    def is_open(self, at: datetime) -> bool:
        """Whether an upload may start at the aware instant ``at``."""
        now = _utc(at)
        if self._always:
            return True
        first = now.astimezone(self.tz).date() - timedelta(days=_BACK_DAYS)
        return any(s <= now < e for s, e in self._occurrences(first, _BACK_DAYS + 2))

    def next_open(self, at: datetime) -> datetime:
        """``at`` if open, else the instant (UTC) the window next opens."""
        if self.is_open(at):
            return at
        now = _utc(at)
        for start, _ in self._stretches(now):
            if start > now:
                return start
        raise AssertionError("unreachable: every rule opens within three weeks")

    def next_close(self, at: datetime) -> datetime | None:
        """``at`` if closed, else the instant (UTC) it closes; None if it never closes."""
        if not self.is_open(at):
            return at
        if self._always:
            return None
        now = _utc(at)
        for start, end in self._stretches(now):
            if start <= now < end:
                return end
        raise AssertionError("unreachable: a window that is not always open closes in a week")

    def _occurrences(self, first: date, days: int) -> Iterator[tuple[datetime, datetime]]:
        """Non-empty occurrences in UTC, ordered by start, of rules on ``days`` dates."""
        for offset in range(days):
            day = first + timedelta(days=offset)
            for start, end in self._spans[day.weekday()]:
                opens, closes = _instant(day, start, self.tz), _instant(day, end, self.tz)
                if opens < closes:  # empty when it lies wholly in a skipped hour
                    yield opens, closes

    def _stretches(self, now: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Maximal open stretches from just before ``now``; the last, maybe cut short, is held."""
        first = now.astimezone(self.tz).date() - timedelta(days=_BACK_DAYS)
        current: tuple[datetime, datetime] | None = None
        for start, end in self._occurrences(first, _BACK_DAYS + _HORIZON_DAYS):
            if current is not None and start <= current[1]:
                current = current[0], max(current[1], end)
                continue
            if current is not None:
                yield current
            current = start, end


@dataclass(frozen=True, slots=True)
class Step:
    """From ``minute`` past midnight on ``day`` (0 = Monday) the limit is ``rate`` bytes/s."""

    day: int
    minute: int
    rate: float | None  # None = unlimited

    def __post_init__(self) -> None:
        if not (0 <= self.day < 7 and 0 <= self.minute < _DAY):
            raise ValueError(f"step out of range: day {self.day}, minute {self.minute}")
        if self.rate is not None and not self.rate > 0:  # also refuses NaN
            raise ValueError(f"a step's rate must be positive or None, got {self.rate}")


@dataclass(frozen=True, slots=True)
class Bandwidth:
    """A weekly upload-rate timetable in the station's time zone ``tz``."""

    steps: tuple[Step, ...]
    tz: tzinfo
    _by_day: tuple[tuple[Step, ...], ...] = field(init=False, repr=False, compare=False)
    _constant: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("a bandwidth timetable needs at least one step")
        by_day = (
            tuple(sorted((s for s in self.steps if s.day == d), key=_minute)) for d in range(7)
        )
        object.__setattr__(self, "_by_day", tuple(by_day))
        object.__setattr__(self, "_constant", len({step.rate for step in self.steps}) == 1)

    def rate_at(self, at: datetime) -> float | None:
        """The limit in bytes/s at the aware instant ``at``; None means unlimited."""
        now = _utc(at)
        if self._constant:
            return self.steps[0].rate
        today = now.astimezone(self.tz).date()
        # Walk back from tomorrow (a fall-back across midnight) until a step has begun; _instant
        # never decreases along the timetable, so the first one found is the latest.
        for back in range(-1, 9):
            day = today - timedelta(days=back)
            for step in reversed(self._by_day[day.weekday()]):
                if _instant(day, step.minute, self.tz) <= now:
                    return step.rate
        raise AssertionError("unreachable: every timetable step recurs weekly")

    def next_change(self, at: datetime) -> datetime | None:
        """The next instant (UTC) the limit differs from now; None if it never does."""
        now = _utc(at)
        if self._constant:
            return None
        current = self.rate_at(now)
        today = now.astimezone(self.tz).date()
        for offset in range(-1, _HORIZON_DAYS):
            day = today + timedelta(days=offset)
            for step in self._by_day[day.weekday()]:
                when = _instant(day, step.minute, self.tz)
                # rate_at, not step.rate: steps a skipped hour piles on one instant: last wins.
                if when > now and self.rate_at(when) != current:
                    return when
        raise AssertionError("unreachable: a timetable with two rates changes within a week")


def parse_window(text: str | None, tz: tzinfo) -> Window:
    """Parse a window (grammar in the module docstring); ValueError names the bad part."""
    text = (text or "").strip()
    if text.lower() in ("", "always"):
        return Window((), tz)
    if text.lower() == "never":
        raise ValueError(
            "'never': a window must open at some time; to stop uploading to a destination, "
            "take it off the route"
        )
    rules = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise ValueError(f"{text!r}: an empty rule (a stray comma?)")
        match = _RULE.fullmatch(part)
        if match is None:
            raise ValueError(f"{part!r}: expected 'DAYS HH:MM-HH:MM', e.g. 'Mon-Fri 19:00-07:00'")
        days = _days(match["days"]) if match["days"] else frozenset(range(7))
        start = _clock(match["start"], part, latest=_DAY - 1)
        end = _clock(match["end"], part, latest=_DAY)
        if start == end:
            raise ValueError(f"{part!r}: start equals end; for a whole day write 00:00-24:00")
        rules.append(Rule(days, start, end or _DAY))  # an end at 00:00 is midnight, as 24:00
    return Window(tuple(rules), tz)


def parse_bandwidth(text: str | None, tz: tzinfo) -> Bandwidth:
    """Parse a limit or timetable (grammar in the module docstring); ValueError names the part."""
    text = re.sub(r"\s*,\s*", ",", (text or "off").strip()) or "off"
    if "," not in text:  # a timetable entry always has one
        return Bandwidth((Step(0, 0, _rate(text)),), tz)
    steps: dict[tuple[int, int], Step] = {}
    for token in text.split():
        match = _ENTRY.fullmatch(token)
        if match is None:
            raise ValueError(
                f"{token!r}: expected 'HH:MM,LIMIT' or 'Day-HH:MM,LIMIT', e.g. '08:00,512KiB/s'"
            )
        minute = _clock(match["time"], token, latest=_DAY - 1)
        rate = _rate(match["rate"])
        for day in [_day(match["day"], token)] if match["day"] else range(7):
            if (day, minute) in steps:
                raise ValueError(f"{token!r}: {DAYS[day]} {match['time']} is set twice")
            steps[day, minute] = Step(day, minute, rate)
    return Bandwidth(tuple(steps.values()), tz)


@lru_cache(maxsize=4096)  # pure, and asked for the same few nights over and over
def _instant(day: date, minute: int, tz: tzinfo) -> datetime:
    """The first instant (UTC) at which the clock in ``tz`` shows ``day`` + ``minute`` or later.

    Monotonic in (day, minute), which keeps occurrences whole and timetables ordered.
    """
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    first = wall.replace(tzinfo=tz).astimezone(UTC)  # fold=0: the earlier of a repeated time
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # A skipped time: fold=0 and fold=1 land either side of the jump; bisect the seconds between.
    low, high = sorted((first, wall.replace(tzinfo=tz, fold=1).astimezone(UTC)))
    before, after = 0, int((high - low).total_seconds())
    while after - before > 1:
        middle = (before + after) // 2
        shown = (low + timedelta(seconds=middle)).astimezone(tz).replace(tzinfo=None)
        before, after = (before, middle) if shown >= wall else (middle, after)
    return low + timedelta(seconds=after)


def _utc(at: datetime) -> datetime:
    if at.utcoffset() is None:
        raise ValueError(f"need an aware datetime (with a time zone), got {at.isoformat()}")
    return at.astimezone(UTC)


def _minute(step: Step) -> int:
    return step.minute


def _day(name: str, part: str) -> int:
    try:
        return _DAY_NUMBER[name.lower()]
    except KeyError:
        raise ValueError(f"{part!r}: unknown day {name!r} ({_DAY_HELP})") from None


def _days(spec: str) -> frozenset[int]:
    days: set[int] = set()
    for piece in spec.split("+"):
        first, dash, last = piece.partition("-")
        low = _day(first, spec)
        high = _day(last, spec) if dash else low
        days.update((low + i) % 7 for i in range((high - low) % 7 + 1))
    return frozenset(days)


def _clock(text: str, part: str, *, latest: int) -> int:
    """Minutes past midnight of an ``H:MM`` that the grammar's regex already shaped."""
    hours, minutes = (int(n) for n in text.split(":"))
    value = hours * 60 + minutes
    if minutes > 59 or value > latest:
        limit = f"{latest // 60:02d}:{latest % 60:02d}"
        raise ValueError(f"{part!r}: time {text!r} is not between 00:00 and {limit}")
    return value


def _rate(text: str) -> float | None:
    """Bytes/s for an rclone-style limit (the upload half of UP:DOWN); None for 'off'."""
    up, colon, down = text.partition(":")
    if colon:
        _limit(down, text)  # checked so that a typo is not silently ignored
    return _limit(up, text)


def _limit(part: str, text: str) -> float | None:
    if part.lower() == "off":
        return None
    match = _LIMIT.fullmatch(part)
    unit = match["unit"].lower() if match else ""
    if match is None or unit.startswith("i"):
        raise ValueError(
            f"{text!r}: expected a limit like 512KiB/s, 10M or off "
            "(units B, K, M, G, T; multiples of 1024; a bare number is KiB/s)"
        )
    # rclone: a bare number is KiB/s, and "B" alone means bytes.
    power = 1 if unit == "" else 0 if unit == "b" else _POWER[unit[0]]
    value = float(match["number"]) * 1024.0**power
    if value < 1:
        raise ValueError(f"{text!r}: a limit below 1 B/s would stop uploads; 'off' means none")
    return value
