"""A schedule as the text operators write: ``every 60 days at 02:00 starting 2025-01-05 in America/Bogota``.

Forms (keywords in any case; see docs/scheduling.md for examples)::

    every N minutes|hours|days|weeks [at HH:MM] [starting YYYY-MM-DD]
    daily at HH:MM
    weekly on DAY[, DAY ...] at HH:MM          (monday ... sunday, or mon ... sun)
    monthly on day N at HH:MM                  (N from 1 to 31; a day a month lacks means its last day)
    monthly on the last day at HH:MM
    monthly on days N, M [and the last day] at HH:MM

each optionally followed by ``in ZONE`` (an IANA name; otherwise the caller's default) and
``window HH:MM-HH:MM`` (a window that may cross midnight). ``format_schedule_text`` writes the canonical
form, which ``parse_schedule_text`` reads back to an equal schedule; ``schedule_text_document`` gives the
dict form of a text (an interval without ``starting`` keeps no start, for the catalog to anchor).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from resguardo.schedules._fields import parse_date, parse_month_days, parse_time, parse_weekdays
from resguardo.schedules._rules import (
    LAST_DAY,
    WEEKDAY_NAMES,
    DailyRule,
    IntervalRule,
    IntervalUnit,
    MonthlyRule,
    Rule,
    WeeklyRule,
    format_time,
)
from resguardo.schedules.documents import schedule_to_dict
from resguardo.schedules.specification import InvalidSchedule, Schedule, Window

FORMS_HINT = (
    "write e.g. 'every 6 hours', 'every 60 days at 02:00', 'daily at 01:00', 'weekly on sunday at 03:00', "
    "'monthly on the last day at 02:00', optionally followed by 'in America/Bogota' and 'window 22:00-06:00'"
)
_WINDOW = re.compile(r"\bwindow\s+([\w:]+)\s*(?:-|\u2013|\bto\b)\s*([\w:]+)", re.IGNORECASE)
_ZONE = re.compile(r"\bin\s+([A-Za-z][\w+\-]*(?:/[\w+\-]+)*)", re.IGNORECASE)
_START = re.compile(r"\bstarting\s+(\S+)", re.IGNORECASE)
_AT = re.compile(r"\bat\s+(\S+)", re.IGNORECASE)
_INTERVAL = re.compile(r"every\s+(?:(\S+)\s+)?([a-z]+)")
_WEEKLY = re.compile(r"weekly\s+on\s+(.+)")
_MONTHLY = re.compile(r"monthly\s+on\s+(.+)")
_MONTH_DAY_WORDS = re.compile(r"\b(?:the|days?)\b")
_ORDINAL = re.compile(r"(\d+)(?:st|nd|rd|th)?")
_PLACEHOLDER_START = date(2000, 1, 1)  # reads an interval without ``starting``; never kept
_UNITS = {unit.value.rstrip("s"): unit for unit in IntervalUnit}


def parse_schedule_text(text: str, *, timezone: str = "UTC", start: date | None = None) -> Schedule:
    """Return the schedule ``text`` describes.

    Args:
        text: the schedule in the forms of this module's docstring.
        timezone: the time zone when ``text`` names none (e.g. the institution's).
        start: the anchor of an interval when ``text`` has no ``starting`` (e.g. today's local date).

    Raises:
        InvalidSchedule: the text cannot be read, or names an impossible value; ``field`` names which.
    """
    remainder = text
    window_match, remainder = _take(_WINDOW, remainder)
    zone_match, remainder = _take(_ZONE, remainder)
    start_match, remainder = _take(_START, remainder)
    at_match, remainder = _take(_AT, remainder)
    window = None
    if window_match is not None:
        window = Window(
            parse_time(window_match[1], "window.start"), parse_time(window_match[2], "window.end")
        )
    if start_match is not None:
        start = parse_date(start_match[1], "start")
    rule = _rule(" ".join(remainder.lower().split()), text, start)
    if at_match is None and not isinstance(rule, IntervalRule):
        raise InvalidSchedule("at", "missing: say at what time", "e.g. 'daily at 01:00'")
    at = parse_time(at_match[1], "at") if at_match is not None else parse_time("00:00", "at")
    zone_name = zone_match[1] if zone_match is not None else timezone
    return Schedule(rule=rule, at=at, timezone=zone_name, window=window)


def _take(pattern: re.Pattern[str], text: str) -> tuple[re.Match[str] | None, str]:
    """Return the first match of ``pattern`` in ``text`` and ``text`` without it."""
    match = pattern.search(text)
    if match is None:
        return None, text
    return match, text[: match.start()] + " " + text[match.end() :]


def _rule(core: str, text: str, start: date | None) -> Rule:
    """Return the rule the ``core`` of a schedule text (lower case, clauses removed) describes."""
    if core == "daily":
        return DailyRule()
    if match := _INTERVAL.fullmatch(core):
        return _interval(match[1] or "1", match[2], start)
    if match := _WEEKLY.fullmatch(core):
        return WeeklyRule(weekdays=parse_weekdays(re.split(r"\s*,\s*|\s+and\s+|\s+", match[1])))
    if match := _MONTHLY.fullmatch(core):
        return MonthlyRule.of(_month_days(match[1]))
    raise InvalidSchedule("schedule", f"cannot read {text!r}", FORMS_HINT)


def _month_days(words: str) -> list[int | str]:
    """Return the days named in "day 15", "the 1st and 15th", "days 1, 15 and the last day"."""
    spaced = _MONTH_DAY_WORDS.sub(" ", words)
    tokens = [token for token in re.split(r"\s*,\s*|\s+and\s+|\s+", spaced) if token]
    values: list[object] = []
    for token in tokens:
        number = _ORDINAL.fullmatch(token)
        if number is None and token != LAST_DAY:
            raise InvalidSchedule(
                "days", f"{token!r} is not a day of the month", "1 to 31, or 'the last day'"
            )
        values.append(LAST_DAY if number is None else int(number[1]))
    return parse_month_days(values)


def _interval(count: str, unit_name: str, start: date | None) -> IntervalRule:
    """Return the interval rule "every ``count`` ``unit_name``" anchored at ``start``."""
    unit = _UNITS.get(unit_name.rstrip("s"))
    if unit is None:
        raise InvalidSchedule("unit", f"{unit_name!r} is not a unit", "use minutes, hours, days or weeks")
    if not re.fullmatch(r"[+-]?\d+", count):
        raise InvalidSchedule("every", f"{count!r} is not a whole number", "e.g. 'every 6 hours'")
    if start is None:
        raise InvalidSchedule(
            "start", "missing: an interval counts from a start date", "add 'starting YYYY-MM-DD'"
        )
    return IntervalRule(every=int(count), unit=unit, start=start)


def format_schedule_text(schedule: Schedule) -> str:
    """Return the canonical text of ``schedule``, which ``parse_schedule_text`` reads back."""
    rule = schedule.rule
    at = format_time(schedule.at)
    if isinstance(rule, IntervalRule):
        unit = str(rule.unit) if rule.every != 1 else str(rule.unit).rstrip("s")
        text = f"every {rule.every} {unit} at {at} starting {rule.start.isoformat()}"
    elif isinstance(rule, WeeklyRule):
        text = f"weekly on {', '.join(WEEKDAY_NAMES[day] for day in rule.weekdays)} at {at}"
    elif isinstance(rule, MonthlyRule):
        text = f"monthly on {_format_month_days(rule.days)} at {at}"
    else:
        text = f"daily at {at}"
    text += f" in {schedule.timezone}"
    if schedule.window is not None:
        text += f" window {format_time(schedule.window.start)}-{format_time(schedule.window.end)}"
    return text


def _format_month_days(days: tuple[int | str, ...]) -> str:
    """Return "day 15", "the last day", "days 1, 15" or "days 1, 15 and the last day"."""
    numbers = [str(day) for day in days if day != LAST_DAY]
    last = LAST_DAY in days
    if not numbers:
        return "the last day"
    if len(numbers) == 1 and not last:
        return f"day {numbers[0]}"
    label = "day" if len(numbers) == 1 else "days"
    return f"{label} {', '.join(numbers)}" + (" and the last day" if last else "")


def schedule_text_document(text: str, *, timezone: str = "UTC") -> dict[str, Any]:
    """Return the dict form of the schedule ``text`` describes.

    An interval without ``starting`` gets no ``start``: the catalog anchors it on the day the schedule
    takes effect.

    Raises:
        InvalidSchedule: the text cannot be read, or names an impossible value; ``field`` names which.
    """
    schedule = parse_schedule_text(text, timezone=timezone, start=_PLACEHOLDER_START)
    document: dict[str, Any] = schedule_to_dict(schedule)
    if document["kind"] == "interval" and _START.search(text) is None:
        del document["start"]
    return document
