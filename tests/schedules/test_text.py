"""Reading and writing the text form of schedules; errors name the field and say what to write."""

from __future__ import annotations

from datetime import date, time

import pytest

from resguardo.core.errors import ConfigurationError
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
)

TODAY = date(2025, 3, 10)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("every 6 hours", Schedule(IntervalRule(6, IntervalUnit.HOURS, TODAY))),
        (
            "every 60 days at 02:00 starting 2025-01-05",
            Schedule(IntervalRule(60, IntervalUnit.DAYS, date(2025, 1, 5)), time(2, 0)),
        ),
        ("Every 2 Weeks at 1:30", Schedule(IntervalRule(2, IntervalUnit.WEEKS, TODAY), time(1, 30))),
        ("every hour", Schedule(IntervalRule(1, IntervalUnit.HOURS, TODAY))),
        ("daily at 01:00", Schedule(DailyRule(), time(1, 0))),
        ("weekly on sunday at 03:00", Schedule(WeeklyRule((6,)), time(3, 0))),
        ("weekly on Mon, wed and FRI at 22:15", Schedule(WeeklyRule((0, 2, 4)), time(22, 15))),
        ("monthly on day 15 at 02:00", Schedule(MonthlyRule((15,)), time(2, 0))),
        ("monthly on the 1st at 02:00", Schedule(MonthlyRule((1,)), time(2, 0))),
        ("monthly on the last day at 02:00", Schedule(MonthlyRule((LAST_DAY,)), time(2, 0))),
        ("monthly on days 1 and 15 at 02:00", Schedule(MonthlyRule((1, 15)), time(2, 0))),
        ("monthly on the 15th, 1st at 02:00", Schedule(MonthlyRule((1, 15)), time(2, 0))),
        (
            "monthly on days 10, 20 and the last day at 02:00",
            Schedule(MonthlyRule((10, 20, LAST_DAY)), time(2, 0)),
        ),
        ("monthly on day 31 at 02:00", Schedule(MonthlyRule((31,)), time(2, 0))),
        ("daily at 01:00 in America/Bogota", Schedule(DailyRule(), time(1, 0), "America/Bogota")),
        (
            "daily at 01:00 in Europe/Madrid window 22:00-06:00",
            Schedule(DailyRule(), time(1, 0), "Europe/Madrid", Window(time(22, 0), time(6, 0))),
        ),
        (
            "daily at 23:00 window 22:00 to 23:30",
            Schedule(DailyRule(), time(23, 0), "UTC", Window(time(22, 0), time(23, 30))),
        ),
    ],
)
def test_text_forms_read_as_the_schedule_they_say(text: str, expected: Schedule) -> None:
    assert parse_schedule_text(text, start=TODAY) == expected


def test_time_zone_defaults_to_the_callers() -> None:
    assert parse_schedule_text("daily at 01:00", timezone="America/Guatemala").timezone == "America/Guatemala"
    assert parse_schedule_text("daily at 01:00 in UTC", timezone="America/Guatemala").timezone == "UTC"


@pytest.mark.parametrize(
    "text",
    [
        "every 6 hours at 00:00 starting 2025-03-10 in UTC",
        "every 60 days at 02:00 starting 2025-01-05 in America/Mexico_City",
        "every 1 week at 03:00 starting 2025-01-05 in UTC window 01:00-05:00",
        "daily at 01:00 in America/Bogota window 22:00-06:00",
        "weekly on monday, sunday at 03:00 in Europe/Madrid",
        "monthly on day 28 at 02:00 in America/Santiago",
        "monthly on the last day at 02:00 in UTC",
        "monthly on days 1, 15 at 01:00 in America/Guayaquil",
        "monthly on days 1, 15 and the last day at 01:00 in UTC",
        "monthly on day 5 and the last day at 01:00 in UTC",
    ],
)
def test_canonical_text_reads_back_to_itself(text: str) -> None:
    assert format_schedule_text(parse_schedule_text(text)) == text


@pytest.mark.parametrize(
    ("text", "field", "says"),
    [
        ("every 0 days at 02:00", "every", "not a positive whole number"),
        ("every -2 hours", "every", "not a positive whole number"),
        ("every some hours", "every", "not a whole number"),
        ("every 3 fortnights", "unit", "not a unit"),
        ("daily at 25:00", "at", "not a time of day"),
        ("daily at 12:60", "at", "not a time of day"),
        ("daily at noon", "at", "not a time of day"),
        ("daily", "at", "missing"),
        ("daily at 01:00 window 22:00-22:00", "window.end", "zero length"),
        ("daily at 01:00 window 24:00-06:00", "window.start", "not a time of day"),
        ("monthly on day 32 at 02:00", "days", "not a day of the month"),
        ("monthly on days 1 and 0 at 02:00", "days", "not a day of the month"),
        ("monthly on day first at 02:00", "days", "not a day of the month"),
        ("weekly on funday at 02:00", "weekdays", "not a weekday"),
        ("daily at 01:00 in Mars/Olympus_Mons", "timezone", "unknown time zone"),
        ("every 60 days at 02:00 starting 2025-02-30", "start", "not a date"),
        ("whenever it suits", "schedule", "cannot read"),
        ("daily at 01:00 at 02:00", "schedule", "cannot read"),
    ],
)
def test_impossible_or_unreadable_text_is_refused_naming_the_field(text: str, field: str, says: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        parse_schedule_text(text, start=TODAY)
    assert isinstance(caught.value, ConfigurationError)
    assert caught.value.field == field
    assert says in caught.value.message
    assert caught.value.hint


def test_interval_without_a_start_date_asks_for_one() -> None:
    with pytest.raises(InvalidSchedule, match="start date") as caught:
        parse_schedule_text("every 60 days at 02:00")
    assert caught.value.field == "start"
    assert "starting YYYY-MM-DD" in caught.value.hint
