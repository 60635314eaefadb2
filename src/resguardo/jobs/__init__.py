"""Jobs: category defaults, the pure scheduler that says which runs are due, its loop and the worker.

The schedule specification itself lives in :mod:`resguardo.schedules`; its names are re-exported here.
"""

from resguardo.jobs.categories import CATEGORY_DEFAULTS, Category, CategoryDefault
from resguardo.jobs.scheduler import DueRun, JobId, JobState, Trigger, due_run, next_run, plan
from resguardo.schedules import (
    LAST_DAY,
    DailyRule,
    IntervalRule,
    IntervalUnit,
    InvalidSchedule,
    MonthlyRule,
    Schedule,
    WeeklyRule,
    Window,
    format_schedule_text,
    parse_schedule_text,
    schedule_from_dict,
    schedule_to_dict,
)

__all__ = [
    "CATEGORY_DEFAULTS",
    "LAST_DAY",
    "Category",
    "CategoryDefault",
    "DailyRule",
    "DueRun",
    "IntervalRule",
    "IntervalUnit",
    "InvalidSchedule",
    "JobId",
    "JobState",
    "MonthlyRule",
    "Schedule",
    "Trigger",
    "WeeklyRule",
    "Window",
    "due_run",
    "format_schedule_text",
    "next_run",
    "parse_schedule_text",
    "plan",
    "schedule_from_dict",
    "schedule_to_dict",
]
