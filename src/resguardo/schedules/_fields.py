"""Reading the values a schedule is made of: times of day, dates, weekday names and days of the month.

Shared by the dict form (documents.py) and the text form (text.py); each raises ``InvalidSchedule`` with
the name of the field it was reading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, time

from resguardo.schedules._rules import LAST_DAY, WEEKDAY_NAMES
from resguardo.schedules.specification import InvalidSchedule

_TIME_PATTERN = re.compile(r"(\d{1,2}):(\d{2})")


def parse_time(value: object, field: str) -> time:
    """Return the local time of day ``HH:MM`` in ``value``.

    Raises:
        InvalidSchedule: not a string of that form, or hours above 23 or minutes above 59.
    """
    match = _TIME_PATTERN.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise InvalidSchedule(field, f"{value!r} is not a time of day", "write HH:MM, e.g. 02:00 or 22:30")
    hour, minute = int(match[1]), int(match[2])
    if hour > 23 or minute > 59:
        raise InvalidSchedule(field, f"{value} is not a time of day", "write HH:MM from 00:00 to 23:59")
    return time(hour, minute)


def parse_date(value: object, field: str) -> date:
    """Return the ISO date ``YYYY-MM-DD`` in ``value``.

    Raises:
        InvalidSchedule: not a string naming a real date.
    """
    try:
        if not isinstance(value, str):
            raise TypeError(value)
        return date.fromisoformat(value.strip())
    except (TypeError, ValueError) as error:
        raise InvalidSchedule(
            field, f"{value!r} is not a date", "write YYYY-MM-DD, e.g. 2025-01-05"
        ) from error


def parse_weekdays(names: Iterable[object]) -> tuple[int, ...]:
    """Return the sorted weekday numbers (0 = Monday) of English weekday names or their first three letters.

    Raises:
        InvalidSchedule: a name that is not a weekday, or no name at all.
    """
    days = set()
    for name in names:
        key = name.strip().lower() if isinstance(name, str) else None
        matches = [number for number, full in enumerate(WEEKDAY_NAMES) if key in (full, full[:3])]
        if not matches:
            raise InvalidSchedule(
                "weekdays", f"{name!r} is not a weekday", "monday ... sunday, or mon ... sun"
            )
        days.add(matches[0])
    if not days:
        raise InvalidSchedule("weekdays", "name at least one weekday", "weekly on sunday at 03:00")
    return tuple(sorted(days))


def parse_month_days(values: Iterable[object]) -> list[int | str]:
    """Return the days of the month in ``values``: whole numbers, or ``"last"`` for the month's last day.

    The range (1 to 31) is checked by the rule itself (``Schedule``); this reads the types.

    Raises:
        InvalidSchedule: a value that is neither a whole number nor "last".
    """
    days: list[int | str] = []
    for value in values:
        if isinstance(value, str) and value.strip().lower() == LAST_DAY:
            days.append(LAST_DAY)
        elif isinstance(value, int) and not isinstance(value, bool):
            days.append(value)
        else:
            raise InvalidSchedule(
                "days", f"{value!r} is not a day of the month", "numbers from 1 to 31, or 'last'"
            )
    return days
