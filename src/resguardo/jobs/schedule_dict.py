"""A schedule as a JSON-able dict: the form the catalog stores and the REST API accepts.

::

    {"kind": "interval", "every": 60, "unit": "days", "start": "2025-01-05", "at": "02:00",
     "timezone": "America/Bogota", "window": {"start": "22:00", "end": "06:00"}}
    {"kind": "daily", "at": "01:00", "timezone": "America/Guatemala", "window": null}
    {"kind": "weekly", "weekdays": ["sunday"], "at": "03:00", "timezone": "UTC", "window": null}
    {"kind": "monthly", "day": "last", "at": "02:00", "timezone": "Europe/Madrid", "window": null}

``at`` is required for calendar rules and defaults to "00:00" for intervals; ``timezone`` defaults to
"UTC"; ``window`` may be absent or null. Unknown fields are refused, so a misspelt one never goes unseen.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, time

from resguardo.jobs._rules import (
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
from resguardo.jobs.schedules import InvalidSchedule, Schedule, Window

KINDS = ("interval", "daily", "weekly", "monthly")
_COMMON_FIELDS = {"kind", "at", "timezone", "window"}
_RULE_FIELDS = {
    "interval": {"every", "unit", "start"},
    "daily": set(),
    "weekly": {"weekdays"},
    "monthly": {"day"},
}
_TIME_PATTERN = re.compile(r"(\d{1,2}):(\d{2})")


def schedule_to_dict(schedule: Schedule) -> dict[str, object]:
    """Return ``schedule`` as a JSON-able dict, the form ``schedule_from_dict`` reads back."""
    data: dict[str, object] = _rule_to_dict(schedule.rule)
    data["at"] = format_time(schedule.at)
    data["timezone"] = schedule.timezone
    window = schedule.window
    data["window"] = (
        None if window is None else {"start": format_time(window.start), "end": format_time(window.end)}
    )
    return data


def _rule_to_dict(rule: Rule) -> dict[str, object]:
    """Return the ``kind`` and rule fields of ``rule``."""
    if isinstance(rule, IntervalRule):
        return {
            "kind": "interval",
            "every": rule.every,
            "unit": str(rule.unit),
            "start": rule.start.isoformat(),
        }
    if isinstance(rule, WeeklyRule):
        return {"kind": "weekly", "weekdays": [WEEKDAY_NAMES[day] for day in rule.weekdays]}
    if isinstance(rule, MonthlyRule):
        return {"kind": "monthly", "day": rule.day}
    return {"kind": "daily"}


def schedule_from_dict(data: Mapping[str, object]) -> Schedule:
    """Return the schedule ``data`` describes (fields in this module's docstring).

    Raises:
        InvalidSchedule: a field is missing, unknown, of the wrong type or impossible; ``field`` names it.
    """
    if not isinstance(data, Mapping):
        raise InvalidSchedule("schedule", f"expected an object, got {type(data).__name__}")
    kind = data.get("kind")
    if kind not in KINDS:
        raise InvalidSchedule(
            "kind", f"{kind!r} is not a kind of schedule", f"use one of: {', '.join(KINDS)}"
        )
    allowed = _COMMON_FIELDS | _RULE_FIELDS[str(kind)]
    unknown = sorted(str(name) for name in data if name not in allowed)
    if unknown:
        raise InvalidSchedule(
            unknown[0], f"unknown field for a {kind} schedule", f"fields: {', '.join(sorted(allowed))}"
        )
    default_at = "00:00" if kind == "interval" else None
    at = parse_time(_required(data, "at", default_at), "at")
    timezone = _required(data, "timezone", "UTC")
    if not isinstance(timezone, str):
        raise InvalidSchedule("timezone", f"expected a time zone name, got {timezone!r}")
    return Schedule(
        rule=_rule_from_dict(str(kind), data), at=at, timezone=timezone, window=_window(data.get("window"))
    )


def _rule_from_dict(kind: str, data: Mapping[str, object]) -> Rule:
    """Return the rule of a schedule dict whose ``kind`` is known."""
    if kind == "interval":
        every = _required(data, "every")
        if not isinstance(every, int) or isinstance(every, bool):
            raise InvalidSchedule("every", f"{every!r} is not a whole number", "e.g. 6 (with unit 'hours')")
        unit = _required(data, "unit")
        if unit not in tuple(IntervalUnit):
            raise InvalidSchedule("unit", f"{unit!r} is not a unit", "use minutes, hours, days or weeks")
        return IntervalRule(
            every=every, unit=IntervalUnit(str(unit)), start=parse_date(_required(data, "start"), "start")
        )
    if kind == "weekly":
        names = _required(data, "weekdays")
        if not isinstance(names, list | tuple):
            raise InvalidSchedule("weekdays", f"expected a list of weekday names, got {names!r}")
        return WeeklyRule(weekdays=parse_weekdays([str(name) for name in names]))
    if kind == "monthly":
        day = _required(data, "day")
        if day != LAST_DAY and (not isinstance(day, int) or isinstance(day, bool)):
            raise InvalidSchedule(
                "day", f"{day!r} is not a day of the month", "a number from 1 to 28, or 'last'"
            )
        return MonthlyRule(day=day)
    return DailyRule()


def _required(data: Mapping[str, object], name: str, default: object = None) -> object:
    """Return ``data[name]``, else ``default``; raise ``InvalidSchedule`` if both are missing."""
    value = data.get(name, default)
    if value is None:
        raise InvalidSchedule(name, "missing")
    return value


def _window(value: object) -> Window | None:
    """Return the window a ``{"start": "HH:MM", "end": "HH:MM"}`` dict describes, None for None."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != {"start", "end"}:
        raise InvalidSchedule("window", f"expected {{'start': 'HH:MM', 'end': 'HH:MM'}}, got {value!r}")
    return Window(parse_time(value["start"], "window.start"), parse_time(value["end"], "window.end"))


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


def parse_weekdays(names: list[str]) -> tuple[int, ...]:
    """Return the sorted weekday numbers (0 = Monday) of English weekday names or their first three letters.

    Raises:
        InvalidSchedule: a name that is not a weekday, or no name at all.
    """
    days = set()
    for name in names:
        key = name.strip().lower()
        matches = [number for number, full in enumerate(WEEKDAY_NAMES) if key in (full, full[:3])]
        if not matches:
            raise InvalidSchedule(
                "weekdays", f"{name!r} is not a weekday", "monday ... sunday, or mon ... sun"
            )
        days.add(matches[0])
    if not days:
        raise InvalidSchedule("weekdays", "name at least one weekday", "weekly on sunday at 03:00")
    return tuple(sorted(days))
