"""The JSON-able dict form of schedules: round trips, defaults, and refusals naming the field."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time

import pytest

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
    anchored_schedule_document,
    checked_schedule_document,
    schedule_from_dict,
    schedule_to_dict,
)

SCHEDULES = [
    Schedule(IntervalRule(60, IntervalUnit.DAYS, date(2025, 1, 5)), time(2, 0), "America/Bogota"),
    Schedule(
        IntervalRule(6, IntervalUnit.HOURS, date(2025, 1, 5)),
        time(0, 0),
        "UTC",
        Window(time(22, 0), time(6, 0)),
    ),
    Schedule(DailyRule(), time(1, 0), "America/Guatemala"),
    Schedule(WeeklyRule((0, 6)), time(3, 0), "Europe/Madrid"),
    Schedule(MonthlyRule((LAST_DAY,)), time(2, 0), "America/Santiago"),
    Schedule(MonthlyRule((15,)), time(2, 0), "America/Mexico_City"),
    Schedule(MonthlyRule((1, 15, LAST_DAY)), time(1, 0), "America/Guayaquil"),
]


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_dict_form_survives_json_and_reads_back_equal(schedule: Schedule) -> None:
    assert schedule_from_dict(json.loads(json.dumps(schedule_to_dict(schedule)))) == schedule


def test_dict_form_of_every_60_days_names_every_field() -> None:
    assert schedule_to_dict(SCHEDULES[0]) == {
        "kind": "interval",
        "every": 60,
        "unit": "days",
        "start": "2025-01-05",
        "at": "02:00",
        "timezone": "America/Bogota",
        "window": None,
    }


def test_interval_at_and_timezone_have_defaults() -> None:
    schedule = schedule_from_dict({"kind": "interval", "every": 6, "unit": "hours", "start": "2025-01-05"})
    assert (schedule.at, schedule.timezone, schedule.window) == (time(0, 0), "UTC", None)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "hourly"}, "kind"),
        ({"at": "01:00"}, "kind"),
        ({"kind": "daily"}, "at"),
        ({"kind": "daily", "at": "01:00", "colour": "blue"}, "colour"),
        ({"kind": "daily", "at": 100}, "at"),
        ({"kind": "daily", "at": "01:00", "timezone": 5}, "timezone"),
        ({"kind": "daily", "at": "01:00", "window": {"start": "22:00"}}, "window"),
        ({"kind": "daily", "at": "01:00", "window": {"start": "22:00", "end": "22:00"}}, "window.end"),
        ({"kind": "interval", "every": "6", "unit": "hours", "start": "2025-01-05"}, "every"),
        ({"kind": "interval", "every": True, "unit": "hours", "start": "2025-01-05"}, "every"),
        ({"kind": "interval", "every": 0, "unit": "days", "start": "2025-01-05"}, "every"),
        ({"kind": "interval", "every": 6, "unit": "moons", "start": "2025-01-05"}, "unit"),
        ({"kind": "interval", "every": 6, "unit": "hours"}, "start"),
        ({"kind": "interval", "every": 6, "unit": "hours", "start": "yesterday"}, "start"),
        ({"kind": "weekly", "weekdays": "sunday", "at": "03:00"}, "weekdays"),
        ({"kind": "weekly", "weekdays": [], "at": "03:00"}, "weekdays"),
        ({"kind": "monthly", "days": [32], "at": "03:00"}, "days"),
        ({"kind": "monthly", "days": [0, 15], "at": "03:00"}, "days"),
        ({"kind": "monthly", "days": ["15"], "at": "03:00"}, "days"),
        ({"kind": "monthly", "days": [], "at": "03:00"}, "days"),
        ({"kind": "monthly", "days": 15, "at": "03:00"}, "days"),
        ({"kind": "monthly", "day": 15, "at": "03:00"}, "day"),
        ({"kind": "monthly", "days": [15], "at": "03:00", "every": 2}, "every"),
        ({"kind": "interval", "every_days": 60, "at": "02:00"}, "every_days"),
    ],
)
def test_bad_dicts_are_refused_naming_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        schedule_from_dict(data)
    assert caught.value.field == field


def test_checked_document_of_a_template_interval_keeps_no_start() -> None:
    document = checked_schedule_document({"kind": "interval", "every": 60, "unit": "days", "at": "02:00"})
    assert "start" not in document
    assert document == {
        "kind": "interval",
        "every": 60,
        "unit": "days",
        "at": "02:00",
        "timezone": "UTC",
        "window": None,
    }


def test_anchored_document_starts_on_the_date_the_schedule_takes_effect_in_its_zone() -> None:
    template = {"kind": "interval", "every": 60, "unit": "days", "at": "02:00", "timezone": "America/Bogota"}
    effective = datetime(2025, 3, 2, 3, 0, tzinfo=UTC)  # still 1 March in Bogota
    assert anchored_schedule_document(template, effective)["start"] == "2025-03-01"
    given = {**template, "start": "2025-01-05"}
    assert anchored_schedule_document(given, effective)["start"] == "2025-01-05"
    daily = anchored_schedule_document({"kind": "daily", "at": "01:00"}, effective)
    assert "start" not in daily
