"""A job's schedule in the console: the text an operator types (``every 60 days at 02:00``) and a backup
window, turned into the catalog's schedule document; and a stored document shown as text again.

The only two places the console knows the schedule formats: :func:`schedule_from_form` and
:func:`schedule_for_display`.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from resguardo.catalog.schedules import WEEKDAYS, validated_schedule
from resguardo.jobs import (
    DailyRule,
    IntervalRule,
    IntervalUnit,
    InvalidSchedule,
    MonthlyRule,
    WeeklyRule,
    format_schedule_text,
    parse_schedule_text,
)
from resguardo.jobs.catalog_schedules import schedule_of_document

MINUTES_PER_DAY = 24 * 60


def schedule_from_form(text: str, window_start: str, window_end: str, today: datetime) -> dict[str, Any]:
    """Return the catalog's schedule document for the schedule text and window of the job form.

    Args:
        text: the schedule as operators write it (docs/scheduling.md), e.g. ``weekly on sunday at 03:00``.
        window_start, window_end: the backup window (``HH:MM``), both empty for none.
        today: the current time (the anchor an interval needs to be read; the catalog's intervals
            count from when the schedule takes effect).

    Raises:
        InvalidSchedule: the text or the window cannot be read, or the schedule cannot be stored
            (``field`` names which: ``schedule``, ``window.start`` ...).
    """
    schedule = parse_schedule_text(text, timezone="UTC", start=today.date())
    at = f"{schedule.at.hour:02d}:{schedule.at.minute:02d}"
    rule = schedule.rule
    document: dict[str, Any]
    if isinstance(rule, DailyRule):
        document = {"kind": "interval", "every_days": 1, "at": at}
    elif isinstance(rule, IntervalRule) and rule.counts_dates:
        days = rule.every * (7 if rule.unit is IntervalUnit.WEEKS else 1)
        document = {"kind": "interval", "every_days": days, "at": at}
    elif isinstance(rule, IntervalRule):
        minutes = rule.every * (60 if rule.unit is IntervalUnit.HOURS else 1)
        if minutes % MINUTES_PER_DAY == 0:
            document = {"kind": "interval", "every_days": minutes // MINUTES_PER_DAY, "at": at}
        else:
            document = {"kind": "interval", "every_minutes": minutes}
    elif isinstance(rule, WeeklyRule):
        document = {"kind": "weekly", "weekdays": [WEEKDAYS[day] for day in rule.weekdays], "at": at}
    elif isinstance(rule, MonthlyRule) and isinstance(rule.day, int):
        document = {"kind": "monthly", "month_days": [rule.day], "at": at}
    else:
        raise InvalidSchedule("schedule", f"cannot store {text!r} yet", "name a day of the month (1 to 28)")
    if schedule.timezone != "UTC":
        document["timezone"] = schedule.timezone
    window = _window(window_start, window_end) or _text_window(schedule.window)
    if window is not None:
        document["window"] = window
    try:
        return validated_schedule(document)
    except InvalidSchedule:
        raise
    except ValueError as error:  # pragma: no cover (the parser refuses these first)
        raise InvalidSchedule("schedule", str(error)) from None


def _window(start: str, end: str) -> dict[str, str] | None:
    """Return the window document of the form's two fields (None when both are empty)."""
    start, end = start.strip(), end.strip()
    if not start and not end:
        return None
    if not start or not end:
        field = "window.start" if not start else "window.end"
        raise InvalidSchedule(field, "give both the start and the end of the window, or neither")
    parse_schedule_text(f"daily at 00:00 window {start}-{end}")  # checks both times and their order
    return {"start": start, "end": end}


def _text_window(window: Any) -> dict[str, str] | None:
    if window is None:
        return None
    return {"start": f"{window.start:%H:%M}", "end": f"{window.end:%H:%M}"}


def schedule_for_display(document: dict[str, Any], effective_since: datetime) -> tuple[str, str, str]:
    """Return a stored schedule as (text without the window, window start, window end) for a form or
    a table; the text of a document that cannot be read is its raw form."""
    try:
        schedule = schedule_of_document(document, effective_since)
    except InvalidSchedule:
        return str(document), "", ""
    start = end = ""
    if schedule.window is not None:
        start, end = f"{schedule.window.start:%H:%M}", f"{schedule.window.end:%H:%M}"
    text = format_schedule_text(dataclasses.replace(schedule, window=None))
    return text.removesuffix(" in UTC"), start, end
