"""Pure upload windows and bandwidth timetables: tables, brute-force weeks over DST, properties."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from picsync.schedule import DAYS, Bandwidth, Rule, Window, parse_bandwidth, parse_window

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")  # its DST moves the clock by 30 minutes
APIA = ZoneInfo("Pacific/Apia")  # skipped the whole of Friday 2011-12-30
ZONES: list[tzinfo] = [UTC, BERLIN, NEW_YORK, LORD_HOWE, APIA]
ISSUE = "Mon-Fri 19:00-07:00, Sat-Sun 00:00-24:00"
WEEKDAYS = frozenset(range(5))
EVERY_DAY = frozenset(range(7))
MINUTE = timedelta(minutes=1)
TICK = timedelta(microseconds=1)
KIB, MIB = 1024.0, 1024.0**2


def z(text: str) -> datetime:
    """An instant written in UTC, e.g. '2024-03-31 01:00'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str, tz: tzinfo) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# --- parsing windows -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rules"),
    [
        ("Mon-Fri 19:00-07:00", [(WEEKDAYS, 1140, 420)]),
        (ISSUE, [(WEEKDAYS, 1140, 420), ({5, 6}, 0, 1440)]),
        ("Fri-Mon 22:00-06:00", [({4, 5, 6, 0}, 1320, 360)]),
        ("Sun-Sat 08:00-09:00", [(EVERY_DAY, 480, 540)]),
        ("Tue-Tue 08:00-09:00", [({1}, 480, 540)]),
        ("Mon+Wed+Fri 12:00-13:30", [({0, 2, 4}, 720, 810)]),
        ("Sat-Sun+Wed 9:00-17:00", [({2, 5, 6}, 540, 1020)]),
        ("19:00-07:00", [(EVERY_DAY, 1140, 420)]),
        ("mon-FRI 19:00 - 07:00", [(WEEKDAYS, 1140, 420)]),
        ("Monday 00:00-24:00", [({0}, 0, 1440)]),
        ("  Mon 08:00-09:00 ,Tue 23:59-00:00 ", [({0}, 480, 540), ({1}, 1439, 1440)]),
    ],
)
def test_window_grammar(text: str, rules: list[tuple[set[int], int, int]]) -> None:
    expected = tuple(Rule(frozenset(days), start, end) for days, start, end in rules)
    assert parse_window(text, BERLIN) == Window(expected, BERLIN)


@pytest.mark.parametrize("text", [None, "", "  ", "always", "ALWAYS"])
def test_no_window_is_always_open(text: str | None) -> None:
    window = parse_window(text, BERLIN)
    assert window.rules == ()
    assert window.is_open(z("2024-03-31 01:30"))
    assert window.next_close(z("2024-03-31 01:30")) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "Mon-Fry 19:00-07:00",
            "'Mon-Fry': unknown day 'Fry' (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)",
        ),
        ("Mon- 19:00-07:00", "'Mon-': unknown day ''"),
        ("Mon 19:00", "'Mon 19:00': expected 'DAYS HH:MM-HH:MM', e.g. 'Mon-Fri 19:00-07:00'"),
        ("Mon-Fri19:00-07:00", "'Mon-Fri19:00-07:00': expected 'DAYS HH:MM-HH:MM'"),
        ("Mon 7pm-7am", "'Mon 7pm-7am': expected 'DAYS HH:MM-HH:MM'"),
        ("Mon 24:00-07:00", "'Mon 24:00-07:00': time '24:00' is not between 00:00 and 23:59"),
        ("Mon 19:00-24:01", "'Mon 19:00-24:01': time '24:01' is not between 00:00 and 24:00"),
        ("Mon 07:60-08:00", "'Mon 07:60-08:00': time '07:60' is not between 00:00 and 23:59"),
        (
            "Mon 07:00-07:00",
            "'Mon 07:00-07:00': start equals end; for a whole day write 00:00-24:00",
        ),
        ("Mon 00:00-00:00", "start equals end"),
        ("Mon 08:00-09:00,", "'Mon 08:00-09:00,': an empty rule (a stray comma?)"),
        ("Mon 08:00-09:00, Tus 10:00-11:00", "'Tus': unknown day 'Tus'"),
        ("never", "'never': a window must open at some time"),
    ],
)
def test_bad_windows_are_refused_naming_the_part(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_window(text, BERLIN)


@pytest.mark.parametrize(
    "rule",
    [
        lambda: Rule(frozenset(), 0, 60),
        lambda: Rule(frozenset({7}), 0, 60),
        lambda: Rule(frozenset({0}), 60, 60),
        lambda: Rule(frozenset({0}), 1440, 60),
        lambda: Rule(frozenset({0}), 0, 1441),
    ],
)
def test_a_hand_built_rule_is_checked_too(rule: Callable[[], Rule]) -> None:
    with pytest.raises(ValueError, match="rule"):
        rule()


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_window(ISSUE, BERLIN).is_open(datetime(2024, 6, 10, 12))
    with pytest.raises(ValueError, match="aware"):
        parse_bandwidth("08:00,1M 19:00,off", BERLIN).rate_at(datetime(2024, 6, 10, 12))


# --- is_open over a week ---------------------------------------------------------------------


# Week of Monday 2024-06-10, Berlin summer time: no DST change near.
@pytest.mark.parametrize(
    ("when", "is_open"),
    [
        ("2024-06-10 00:00", False),  # Sunday's rule ends at 24:00; Mon-Fri nights start Mon 19:00
        ("2024-06-10 06:59", False),
        ("2024-06-10 18:59", False),
        ("2024-06-10 19:00", True),
        ("2024-06-10 23:59", True),
        ("2024-06-11 00:00", True),  # Monday's night runs into Tuesday
        ("2024-06-11 06:59", True),
        ("2024-06-11 07:00", False),
        ("2024-06-12 12:00", False),
        ("2024-06-14 18:59", False),
        ("2024-06-14 19:00", True),
        ("2024-06-15 03:00", True),  # Saturday 03:00 is Friday's night (and Saturday's rule)
        ("2024-06-15 07:00", True),
        ("2024-06-15 12:00", True),
        ("2024-06-16 23:59", True),
        ("2024-06-17 00:00", False),
    ],
)
def test_issue_window_over_a_week(when: str, is_open: bool) -> None:
    assert parse_window(ISSUE, BERLIN).is_open(local(when, BERLIN)) is is_open


def wall_clock_oracle(rules: tuple[Rule, ...], at: datetime, tz: tzinfo) -> bool:
    """Open by the local clock alone: right wherever the clock reading happens only once."""
    wall = at.astimezone(tz)
    day, minute = wall.weekday(), wall.hour * 60 + wall.minute + wall.second / 60
    for rule in rules:
        end = rule.end if rule.end > rule.start else rule.end + 1440
        if day in rule.days and rule.start <= minute < end:
            return True
        if (day - 1) % 7 in rule.days and minute < end - 1440:
            return True
    return False


@pytest.mark.parametrize("tz", [UTC, BERLIN, NEW_YORK, LORD_HOWE])
@pytest.mark.parametrize("text", [ISSUE, "Fri-Mon 22:00-06:00, Wed 12:00-12:30", "Tue 23:59-00:01"])
def test_is_open_at_every_minute_of_a_week_matches_the_wall_clock(tz: tzinfo, text: str) -> None:
    window = parse_window(text, tz)
    start = local("2024-06-10 00:00", tz).astimezone(UTC)
    for minute in range(7 * 1440 + 60):
        at = start + minute * MINUTE
        assert window.is_open(at) is wall_clock_oracle(window.rules, at, tz), at


# --- DST --------------------------------------------------------------------------------------


NIGHTS = [12.0] * 5  # Monday to Friday nights of the week; the sixth (Sat-Sun) crosses the change
DST_WEEKS = [
    (BERLIN, "2024-03-25", [*NIGHTS, 11.0, 12.0]),  # spring forward Sun 31 Mar 02:00 -> 03:00
    (BERLIN, "2024-10-21", [*NIGHTS, 13.0, 12.0]),  # fall back Sun 27 Oct 03:00 -> 02:00
    (NEW_YORK, "2024-03-04", [*NIGHTS, 11.0, 12.0]),  # Sun 10 Mar 02:00 -> 03:00
    (NEW_YORK, "2024-10-28", [*NIGHTS, 13.0, 12.0]),  # Sun 3 Nov 02:00 -> 01:00
    (LORD_HOWE, "2024-09-30", [*NIGHTS, 11.5, 12.0]),  # Sun 6 Oct 02:00 -> 02:30
    (LORD_HOWE, "2024-04-01", [*NIGHTS, 12.5, 12.0]),  # Sun 7 Apr 02:00 -> 01:30
]


@pytest.mark.parametrize(("tz", "monday", "hours"), DST_WEEKS)
def test_a_night_window_never_vanishes_or_doubles_across_dst(
    tz: tzinfo, monday: str, hours: list[float]
) -> None:
    window = parse_window("19:00-07:00", tz)
    at: datetime = local(f"{monday} 12:00", tz)
    nights = []
    for _ in range(7):
        opens = window.next_open(at)
        closes = window.next_close(opens)
        assert closes is not None
        assert opens.astimezone(tz).strftime("%H:%M") == "19:00"
        assert closes.astimezone(tz).strftime("%H:%M") == "07:00"
        nights.append((closes - opens) / timedelta(hours=1))
        at = closes
    assert nights == hours


@pytest.mark.parametrize(
    ("tz", "text", "probe", "opens", "closes"),
    [
        # Spring forward (Berlin 31 Mar 2024, 02:00 CET -> 03:00 CEST; 01:00 UTC).
        (BERLIN, "Sun 02:30-04:00", "2024-03-30 12:00", "2024-03-31 01:00", "2024-03-31 02:00"),
        (BERLIN, "Sat 22:00-02:30", "2024-03-30 12:00", "2024-03-30 21:00", "2024-03-31 01:00"),
        (BERLIN, "Sun 02:00-03:00", "2024-03-30 12:00", "2024-04-07 00:00", "2024-04-07 01:00"),
        (BERLIN, "Sun 02:10-02:50", "2024-03-30 12:00", "2024-04-07 00:10", "2024-04-07 00:50"),
        (NEW_YORK, "Sun 02:30-03:30", "2024-03-09 12:00", "2024-03-10 07:00", "2024-03-10 07:30"),
        # Fall back (New York 3 Nov 2024, 02:00 EDT -> 01:00 EST; 06:00 UTC): the first 01:xx.
        (NEW_YORK, "Sun 01:00-01:30", "2024-11-02 12:00", "2024-11-03 05:00", "2024-11-03 05:30"),
        (NEW_YORK, "Sun 01:00-01:30", "2024-11-03 05:45", "2024-11-10 06:00", "2024-11-10 06:30"),
        (NEW_YORK, "Sun 01:30-02:00", "2024-11-02 12:00", "2024-11-03 05:30", "2024-11-03 07:00"),
        (NEW_YORK, "Sat 23:00-01:15", "2024-11-02 12:00", "2024-11-03 03:00", "2024-11-03 05:15"),
        (BERLIN, "Sun 02:30-02:45", "2024-10-26 12:00", "2024-10-27 00:30", "2024-10-27 00:45"),
        # Apia skipped Friday 30 Dec 2011: Friday's rule is empty, Thursday's night ends at once.
        (APIA, "Fri 09:00-17:00", "2011-12-29 00:00", "2012-01-05 19:00", "2012-01-06 03:00"),
        (APIA, "Thu 20:00-08:00", "2011-12-29 07:00", "2011-12-30 06:00", "2011-12-30 10:00"),
    ],
)
def test_skipped_and_repeated_clock_times(
    tz: tzinfo, text: str, probe: str, opens: str, closes: str
) -> None:
    window = parse_window(text, tz)
    assert window.next_open(z(probe)) == z(opens)
    assert window.next_close(z(opens)) == z(closes)
    assert window.is_open(z(opens)) and not window.is_open(z(opens) - TICK)
    assert window.is_open(z(closes) - TICK) and not window.is_open(z(closes))


def test_the_repeated_hour_is_closed_when_its_first_pass_closed() -> None:
    window = parse_window("Sun 01:00-01:30", NEW_YORK)
    first, second = z("2024-11-03 05:15"), z("2024-11-03 06:15")  # both read 01:15 in New York
    assert first.astimezone(NEW_YORK).strftime("%H:%M") == "01:15"
    assert second.astimezone(NEW_YORK).strftime("%H:%M") == "01:15"
    assert window.is_open(first) and not window.is_open(second)


def states(window: Window, start: datetime, minutes: int) -> list[bool]:
    return [window.is_open(start + i * MINUTE) for i in range(minutes)]


@pytest.mark.parametrize(("tz", "monday", "hours"), DST_WEEKS)
@pytest.mark.parametrize(
    "text", [ISSUE, "Sat 23:00-02:30, Sun 01:00-01:30, Sun 02:15-02:45, Sun 03:00-04:00"]
)
def test_next_open_and_close_match_a_minute_by_minute_walk(
    tz: tzinfo, monday: str, hours: object, text: str
) -> None:
    # Every boundary lies on a whole UTC minute in these zones, so the walk finds them exactly.
    window = parse_window(text, tz)
    start = local(f"{monday} 00:00", tz).astimezone(UTC) + timedelta(days=3)
    seen = states(window, start, 6 * 1440)
    flips = [i for i in range(1, len(seen)) if seen[i] != seen[i - 1]]
    probes = sorted({0, *range(0, len(seen), 37), *flips, *(i - 1 for i in flips)})
    for i in probes:
        at = start + i * MINUTE
        next_flip = next((f for f in flips if f > i), None)
        if next_flip is None:
            continue
        expected = at if seen[i] else start + next_flip * MINUTE
        assert window.next_open(at) == expected, at
        expected = start + next_flip * MINUTE if seen[i] else at
        assert window.next_close(at) == expected, at


def test_results_are_utc_and_the_probe_itself_when_already_there() -> None:
    window = parse_window(ISSUE, BERLIN)
    saturday, tuesday = local("2024-06-15 12:00", BERLIN), local("2024-06-11 12:00", BERLIN)
    assert window.next_open(saturday) is saturday
    assert window.next_close(tuesday) is tuesday
    assert window.next_open(tuesday) == z("2024-06-11 17:00")
    assert window.next_open(tuesday).tzinfo is UTC
    assert window.next_close(saturday) == z("2024-06-16 22:00")


@pytest.mark.parametrize(
    ("text", "closes"),
    [
        ("Mon-Sun 00:00-24:00", None),
        ("00:00-12:00, 12:00-24:00", None),
        ("Mon-Fri 00:00-24:00, Sat-Sun 00:00-24:00", None),
        ("18:00-18:01, 18:01-18:00", None),
        ("Mon-Sun 00:01-24:00", "2024-06-10 22:00"),
    ],
)
def test_a_window_covering_the_whole_week_never_closes(text: str, closes: str | None) -> None:
    result = parse_window(text, BERLIN).next_close(local("2024-06-10 12:00", BERLIN))
    assert result == (None if closes is None else z(closes))


# --- properties ------------------------------------------------------------------------------


@cache
def dst_changes(tz: tzinfo) -> list[datetime]:
    """The hours (UTC) in which the zone changed its offset, in 2011 and 2024."""
    found = []
    for year in (2011, 2024):
        hour = datetime(year, 1, 1, tzinfo=UTC)
        while hour.year == year:
            if (
                hour.astimezone(tz).utcoffset()
                != (hour + timedelta(hours=1)).astimezone(tz).utcoffset()
            ):
                found.append(hour)
            hour += timedelta(hours=1)
    return found


@st.composite
def zone_and_instant(draw: st.DrawFn) -> tuple[tzinfo, datetime]:
    tz = draw(st.sampled_from(ZONES))
    changes = dst_changes(tz)
    near_a_change = draw(st.booleans())  # then within a day and a half of one
    if changes and near_a_change:
        offset = draw(st.integers(min_value=-36 * 60, max_value=36 * 60))
        return tz, draw(st.sampled_from(changes)) + offset * MINUTE
    low, high = datetime(2011, 1, 1), datetime(2026, 1, 1)
    return tz, draw(st.datetimes(min_value=low, max_value=high, timezones=st.just(UTC)))


RULES = st.lists(
    st.tuples(
        st.frozensets(st.integers(0, 6), min_size=1),
        st.integers(0, 1439),
        st.integers(1, 1440),
    ).filter(lambda rule: rule[1] != rule[2]),
    min_size=1,
    max_size=3,
)


def window_text(rules: list[tuple[frozenset[int], int, int]]) -> str:
    return ", ".join(
        f"{'+'.join(DAYS[d] for d in sorted(days))} {hhmm(start)}-{hhmm(end)}"
        for days, start, end in rules
    )


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(RULES, zone_and_instant())
def test_is_open_follows_the_clock_wherever_its_reading_is_unique(
    rules: list[tuple[frozenset[int], int, int]], probe: tuple[tzinfo, datetime]
) -> None:
    tz, at = probe
    window = parse_window(window_text(rules), tz)
    assert window.rules == tuple(Rule(*rule) for rule in rules)  # the text round-trips
    if at.astimezone(tz).fold == 0:  # not the second pass of a repeated hour
        assert window.is_open(at) is wall_clock_oracle(window.rules, at, tz)


def grid(first: datetime, last: datetime, step: timedelta) -> list[datetime]:
    count = min(int((last - first) / step), 1200)
    return [first + i * step for i in range(1, count + 1) if first + i * step < last]


@PROPERTY
@given(RULES, zone_and_instant())
def test_next_open_is_open_and_nothing_before_it_is(
    rules: list[tuple[frozenset[int], int, int]], probe: tuple[tzinfo, datetime]
) -> None:
    tz, at = probe
    window = parse_window(window_text(rules), tz)
    opens = window.next_open(at)
    assert opens >= at and window.is_open(opens)
    if opens > at:
        assert not window.is_open(opens - TICK)
        assert not any(window.is_open(t) for t in grid(at, opens, timedelta(minutes=11)))
    closes = window.next_close(opens)
    if closes is None:  # then it is open all week, every minute
        assert all(window.is_open(t) for t in grid(at, at + timedelta(days=8), 11 * MINUTE))
    else:
        assert closes > opens and not window.is_open(closes)
        assert window.is_open(closes - TICK)
        assert all(window.is_open(t) for t in grid(opens, closes, timedelta(minutes=11)))
        assert window.next_close(closes) == closes


# --- bandwidth -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("512KiB/s", 512 * KIB),
        ("1MiB/s", MIB),
        ("10M", 10 * MIB),
        ("1.5m", 1.5 * MIB),
        ("1 MiB/s", MIB),
        ("512", 512 * KIB),  # rclone: a bare number is KiB/s
        ("100B/s", 100.0),
        ("1kb/s", KIB),
        ("2GiB", 2 * 1024 * MIB),
        ("10M:100k", 10 * MIB),  # rclone's UP:DOWN; picsync only uploads
        ("off", None),
        ("OFF", None),
        ("", None),
        (None, None),
    ],
)
def test_a_plain_limit(text: str | None, rate: float | None) -> None:
    bandwidth = parse_bandwidth(text, BERLIN)
    assert bandwidth.rate_at(z("2024-06-10 12:00")) == rate
    assert bandwidth.next_change(z("2024-06-10 12:00")) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "'0': a limit below 1 B/s would stop uploads; 'off' means none"),
        ("0.5B", "below 1 B/s"),
        ("-1M", "'-1M': expected a limit like 512KiB/s, 10M or off"),
        ("10X", "'10X': expected a limit like 512KiB/s, 10M or off"),
        ("MiB", "'MiB': expected a limit"),
        ("10iB", "'10iB': expected a limit"),
        ("10M:fast", "'10M:fast': expected a limit"),
        ("08:00 512K", "'08:00 512K': expected a limit"),
        ("08:00,fast", "'fast': expected a limit"),
        ("08:00,1M 19:00", "'19:00': expected 'HH:MM,LIMIT' or 'Day-HH:MM,LIMIT'"),
        ("Mo-08:00,1M", "'Mo-08:00,1M': unknown day 'Mo' (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)"),
        ("24:00,1M", "'24:00,1M': time '24:00' is not between 00:00 and 23:59"),
        ("08:00,1M 08:00,2M", "'08:00,2M': Mon 08:00 is set twice"),
        ("08:00,1M Wed-08:00,2M", "'Wed-08:00,2M': Wed 08:00 is set twice"),
    ],
)
def test_bad_bandwidth_is_refused_naming_the_part(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_bandwidth(text, BERLIN)


DAILY = "08:00,512KiB/s 12:00,10M 19:00,off"
RCLONE_WEEKLY = "Mon-00:00,512 Fri-23:59,10M Sat-10:00,1M Sun-20:00,off"  # from rclone's docs


@pytest.mark.parametrize(
    ("text", "when", "rate", "change"),
    [
        (DAILY, "2024-06-11 07:59", None, "2024-06-11 08:00"),  # before 08:00: yesterday's 19:00
        (DAILY, "2024-06-11 08:00", 512 * KIB, "2024-06-11 12:00"),
        (DAILY, "2024-06-11 11:59", 512 * KIB, "2024-06-11 12:00"),
        (DAILY, "2024-06-11 12:00", 10 * MIB, "2024-06-11 19:00"),
        (DAILY, "2024-06-11 23:00", None, "2024-06-12 08:00"),
        (" 08:00 , 1M   12:00,1M 19:00,off", "2024-06-11 09:00", MIB, "2024-06-11 19:00"),
        (RCLONE_WEEKLY, "2024-06-11 12:00", 512 * KIB, "2024-06-14 23:59"),
        (RCLONE_WEEKLY, "2024-06-14 23:59", 10 * MIB, "2024-06-15 10:00"),
        (RCLONE_WEEKLY, "2024-06-15 09:00", 10 * MIB, "2024-06-15 10:00"),
        (RCLONE_WEEKLY, "2024-06-16 19:59", MIB, "2024-06-16 20:00"),
        (RCLONE_WEEKLY, "2024-06-16 21:00", None, "2024-06-17 00:00"),
        (RCLONE_WEEKLY, "2024-06-17 00:00", 512 * KIB, "2024-06-21 23:59"),
        ("Wed-03:00,1M", "2024-06-11 12:00", MIB, None),
        ("08:00,1M 19:00,1M", "2024-06-11 12:00", MIB, None),
    ],
)
def test_timetable(text: str, when: str, rate: float | None, change: str | None) -> None:
    bandwidth = parse_bandwidth(text, BERLIN)
    assert bandwidth.rate_at(local(when, BERLIN)) == rate
    expected = None if change is None else local(change, BERLIN).astimezone(UTC)
    assert bandwidth.next_change(local(when, BERLIN)) == expected


@pytest.mark.parametrize(
    ("tz", "text", "when", "rate", "change"),
    [
        # Berlin springs forward at 01:00 UTC: 02:30 and 03:00 both start at the jump; last wins.
        (BERLIN, "02:30,1M 03:00,2M 04:00,off", "2024-03-31 00:30", None, "2024-03-31 01:00"),
        (BERLIN, "02:30,1M 03:00,2M 04:00,off", "2024-03-31 01:00", 2 * MIB, "2024-03-31 02:00"),
        (BERLIN, "02:30,1M 03:00,2M 04:00,off", "2024-04-01 00:00", None, "2024-04-01 00:30"),
        # New York falls back at 06:00 UTC: 01:30 starts at its first pass and is not undone.
        (NEW_YORK, "01:30,1M 02:00,off", "2024-11-03 05:29", None, "2024-11-03 05:30"),
        (NEW_YORK, "01:30,1M 02:00,off", "2024-11-03 05:30", MIB, "2024-11-03 07:00"),
        (NEW_YORK, "01:30,1M 02:00,off", "2024-11-03 06:00", MIB, "2024-11-03 07:00"),
        (NEW_YORK, "01:30,1M 02:00,off", "2024-11-03 06:45", MIB, "2024-11-03 07:00"),
        (NEW_YORK, "01:30,1M 02:00,off", "2024-11-03 07:00", None, "2024-11-04 06:30"),
    ],
)
def test_timetable_across_dst(
    tz: tzinfo, text: str, when: str, rate: float | None, change: str
) -> None:
    bandwidth = parse_bandwidth(text, tz)
    assert bandwidth.rate_at(z(when)) == rate
    assert bandwidth.next_change(z(when)) == z(change)


ENTRIES = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(0, 6)),
        st.integers(0, 1439),
        st.sampled_from(["off", "512K", "1M", "10M"]),
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda entry: entry[1],  # distinct times, so no slot is set twice
)
RATES = {"off": None, "512K": 512 * KIB, "1M": MIB, "10M": 10 * MIB}


def rate_oracle(
    entries: list[tuple[int | None, int, str]], at: datetime, tz: tzinfo
) -> float | None:
    """The latest entry at or before the clock reading, round the week."""
    wall = at.astimezone(tz)
    now = wall.weekday() * 1440 + wall.hour * 60 + wall.minute
    slots = sorted(
        (day * 1440 + minute, rate)
        for entry_day, minute, rate in entries
        for day in (range(7) if entry_day is None else [entry_day])
    )
    before = [rate for slot, rate in slots if slot <= now] or [slots[-1][1]]
    return RATES[before[-1]]


def timetable_text(entries: list[tuple[int | None, int, str]]) -> str:
    return " ".join(
        f"{'' if day is None else DAYS[day] + '-'}{hhmm(minute)},{rate}"
        for day, minute, rate in entries
    )


@PROPERTY
@given(ENTRIES, zone_and_instant())
def test_rate_follows_the_clock_and_holds_until_next_change(
    entries: list[tuple[int | None, int, str]], probe: tuple[tzinfo, datetime]
) -> None:
    tz, at = probe
    bandwidth = parse_bandwidth(timetable_text(entries), tz)
    rate = bandwidth.rate_at(at)
    if at.astimezone(tz).fold == 0:
        assert rate == rate_oracle(entries, at, tz)
    change = bandwidth.next_change(at)
    if change is None:
        assert len({RATES[r] for _, _, r in entries}) == 1
        return
    assert change > at and bandwidth.rate_at(change) != rate
    assert bandwidth.rate_at(change - TICK) == rate
    assert all(bandwidth.rate_at(t) == rate for t in grid(at, change, timedelta(minutes=13)))


def test_a_hand_built_timetable_is_checked() -> None:
    with pytest.raises(ValueError, match="at least one step"):
        Bandwidth((), UTC)
    assert parse_bandwidth("Sun-23:00,1M", UTC).rate_at(datetime(2024, 6, 10, tzinfo=UTC)) == MIB
    assert date(2024, 6, 10).weekday() == 0  # the tables above assume 10 June 2024 is a Monday
