"""A schedule as a JSON-able dict: the one form the catalog stores, the REST API and the CLI accept.

::

    {"kind": "interval", "every": 60, "unit": "days", "start": "2025-01-05", "at": "02:00",
     "timezone": "America/Bogota", "window": {"start": "22:00", "end": "06:00"}}
    {"kind": "daily", "at": "01:00", "timezone": "America/Guatemala", "window": null}
    {"kind": "weekly", "weekdays": ["sunday"], "at": "03:00", "timezone": "UTC", "window": null}
    {"kind": "monthly", "days": [1, 15, "last"], "at": "02:00", "timezone": "Europe/Madrid", "window": null}

``at`` is required for calendar rules and defaults to "00:00" for intervals; ``timezone`` defaults to
"UTC"; ``window`` may be absent or null. An interval's ``start`` may be left out where a schedule is a
template (a category's default) or about to be stored: :func:`anchored_schedule_document` fills it in
with the date the schedule takes effect. Unknown fields are refused, so a misspelt one never goes unseen.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from resguardo.schedules._fields import parse_date, parse_month_days, parse_time, parse_weekdays
from resguardo.schedules._localtime import local_date
from resguardo.schedules._rules import (
    WEEKDAY_NAMES,
    DailyRule,
    IntervalRule,
    IntervalUnit,
    MonthlyRule,
    Rule,
    WeeklyRule,
    format_time,
)
from resguardo.schedules.specification import InvalidSchedule, Schedule, Window, load_zone

KINDS = ("interval", "daily", "weekly", "monthly")
COMMON_FIELDS = ("kind", "at", "timezone", "window")
RULE_FIELDS = {
    "interval": ("every", "unit", "start"),
    "daily": (),
    "weekly": ("weekdays",),
    "monthly": ("days",),
}
_PLACEHOLDER_START = date(2000, 1, 1)  # checks a template interval; never stored


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
        return {"kind": "monthly", "days": list(rule.days)}
    return {"kind": "daily"}


def schedule_from_dict(data: Mapping[str, object], *, default_start: date | None = None) -> Schedule:
    """Return the schedule ``data`` describes (fields in this module's docstring).

    Args:
        data: the dict form.
        default_start: the start of an interval that names none; None to require ``start``.

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
    allowed = (*COMMON_FIELDS, *RULE_FIELDS[str(kind)])
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
    rule = _rule_from_dict(str(kind), data, default_start)
    return Schedule(rule=rule, at=at, timezone=timezone, window=_window(data.get("window")))


def _rule_from_dict(kind: str, data: Mapping[str, object], default_start: date | None) -> Rule:
    """Return the rule of a schedule dict whose ``kind`` is known."""
    if kind == "interval":
        every = _required(data, "every")
        if not isinstance(every, int) or isinstance(every, bool):
            raise InvalidSchedule("every", f"{every!r} is not a whole number", "e.g. 6 (with unit 'hours')")
        unit = _required(data, "unit")
        if unit not in tuple(IntervalUnit):
            raise InvalidSchedule("unit", f"{unit!r} is not a unit", "use minutes, hours, days or weeks")
        return IntervalRule(
            every=every, unit=IntervalUnit(str(unit)), start=_start(data.get("start"), default_start)
        )
    if kind == "weekly":
        names = _required(data, "weekdays")
        if not isinstance(names, list | tuple):
            raise InvalidSchedule("weekdays", f"expected a list of weekday names, got {names!r}")
        return WeeklyRule(weekdays=parse_weekdays(names))
    if kind == "monthly":
        days = _required(data, "days")
        if not isinstance(days, list | tuple):
            raise InvalidSchedule("days", f"expected a list of days of the month, got {days!r}", "[1, 15]")
        return MonthlyRule.of(parse_month_days(days))
    return DailyRule()


def _start(value: object, default_start: date | None) -> date:
    """Return an interval's start date: ``value`` read as a date, else ``default_start``."""
    if value is not None:
        return parse_date(value, "start")
    if default_start is None:
        raise InvalidSchedule("start", "missing: an interval counts from a start date", "YYYY-MM-DD")
    return default_start


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


def checked_schedule_document(data: object) -> dict[str, Any]:
    """Return the canonical dict form of ``data`` after checking it; an interval may lack ``start``.

    This is what a category's default schedule and the API's input go through: a missing ``start``
    stays missing (the job that uses the schedule anchors it), every other field is written out in full.

    Raises:
        InvalidSchedule: ``data`` is not a valid schedule; ``field`` names the culprit.
    """
    if not isinstance(data, Mapping):
        raise InvalidSchedule("schedule", f"expected an object, got {type(data).__name__}")
    document = schedule_to_dict(schedule_from_dict(data, default_start=_PLACEHOLDER_START))
    if document["kind"] == "interval" and data.get("start") is None:
        del document["start"]
    return document


def anchored_schedule_document(data: object, effective: datetime) -> dict[str, Any]:
    """Return the canonical dict form of ``data``, an interval without ``start`` anchored on ``effective``.

    Args:
        data: the dict form, ``start`` optional.
        effective: when the schedule takes effect (timezone-aware): an interval without ``start``
            counts from that instant's date in the schedule's time zone.

    Raises:
        InvalidSchedule: ``data`` is not a valid schedule; ``field`` names the culprit.
    """
    document = checked_schedule_document(data)
    if document["kind"] == "interval" and "start" not in document:
        zone = load_zone(str(document["timezone"]))
        document["start"] = local_date(effective, zone).isoformat()
    return document
