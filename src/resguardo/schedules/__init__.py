"""Schedules: when a job's runs are due, in which time zone, and in which backup window (R9).

The one schedule form of Resguardo, below both the catalog (which validates and stores it) and the jobs
layer (whose scheduler plans with it). Pure: it reads no clock, no database, no file.

- specification.py: ``Schedule`` (a rule at a time of day in a zone, with an optional ``Window``), the
  rules (interval, daily, weekly, monthly on one or several days) and ``InvalidSchedule``;
- documents.py: the dict form the catalog stores and the API accepts (``schedule_from_dict``,
  ``schedule_to_dict``, ``checked_schedule_document``, ``anchored_schedule_document``);
- text.py: the text operators write, "every 60 days at 02:00 window 22:00-06:00";
- argument.py: ``parse_schedule_argument``, the CLI's ``--schedule`` (text or JSON);
- describe.py: ``describe_schedule``, a schedule in English or Spanish words.

The syntax is documented in docs/scheduling.md.
"""

from resguardo.schedules._rules import (
    LAST_DAY,
    DailyRule,
    IntervalRule,
    IntervalUnit,
    MonthlyRule,
    Rule,
    WeeklyRule,
)
from resguardo.schedules.argument import parse_schedule_argument
from resguardo.schedules.describe import describe_schedule
from resguardo.schedules.documents import (
    anchored_schedule_document,
    checked_schedule_document,
    schedule_from_dict,
    schedule_to_dict,
)
from resguardo.schedules.specification import InvalidSchedule, Schedule, Window, load_zone
from resguardo.schedules.text import format_schedule_text, parse_schedule_text, schedule_text_document

__all__ = [
    "LAST_DAY",
    "DailyRule",
    "IntervalRule",
    "IntervalUnit",
    "InvalidSchedule",
    "MonthlyRule",
    "Rule",
    "Schedule",
    "WeeklyRule",
    "Window",
    "anchored_schedule_document",
    "checked_schedule_document",
    "describe_schedule",
    "format_schedule_text",
    "load_zone",
    "parse_schedule_argument",
    "parse_schedule_text",
    "schedule_from_dict",
    "schedule_text_document",
    "schedule_to_dict",
]
