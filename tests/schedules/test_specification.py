"""Slots of every rule: intervals, daily, weekly, monthly; month ends, leap years, DST, windows."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

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
)

MADRID = ZoneInfo("Europe/Madrid")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def local(zone: str, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(zone))  # type: ignore[misc]


def slots_after(schedule: Schedule, instant: datetime, count: int) -> list[datetime]:
    slots = []
    for _ in range(count):
        instant = schedule.first_slot_after(instant)
        slots.append(instant)
    return slots


def test_daily_slots_are_at_the_local_time_of_the_zone() -> None:
    schedule = Schedule(DailyRule(), time(1, 0), "America/Guatemala")  # UTC-6, no DST
    assert slots_after(schedule, utc(2025, 3, 1, 12), 2) == [utc(2025, 3, 2, 7), utc(2025, 3, 3, 7)]


def test_first_slot_after_is_strictly_after_and_last_slot_is_at_or_before() -> None:
    schedule = Schedule(DailyRule(), time(1, 0), "America/Bogota")
    slot = local("America/Bogota", 2025, 3, 2, 1, 0)
    assert schedule.first_slot_after(slot) == slot + timedelta(days=1)
    assert schedule.last_slot_at_or_before(slot) == slot
    assert schedule.last_slot_at_or_before(slot - timedelta(seconds=1)) == slot - timedelta(days=1)


def test_hourly_interval_steps_through_absolute_time_from_its_anchor() -> None:
    schedule = Schedule(IntervalRule(6, IntervalUnit.HOURS, date(2025, 1, 1)), time(2, 0), "America/Bogota")
    assert schedule.first_slot_after(utc(2024, 12, 1)) == utc(2025, 1, 1, 7)  # before the anchor: the anchor
    assert slots_after(schedule, utc(2025, 1, 10, 8), 3) == [
        utc(2025, 1, 10, 13),
        utc(2025, 1, 10, 19),
        utc(2025, 1, 11, 1),
    ]
    assert schedule.last_slot_at_or_before(utc(2025, 1, 10, 12, 59)) == utc(2025, 1, 10, 7)
    assert schedule.last_slot_at_or_before(utc(2025, 1, 1, 6)) is None


def test_every_60_days_is_anchored_on_its_start_date_whatever_the_question() -> None:
    schedule = Schedule(
        IntervalRule(60, IntervalUnit.DAYS, date(2025, 1, 5)), time(2, 0), "America/Mexico_City"
    )
    expected = [local("America/Mexico_City", 2025, 1, 5, 2) + timedelta(days=60 * k) for k in range(1, 5)]
    assert slots_after(schedule, local("America/Mexico_City", 2025, 1, 5, 2), 4) == expected
    # Asked from any instant in between, the same slots come back: the rule does not drift.
    assert schedule.first_slot_after(utc(2025, 4, 20)) == expected[1]
    assert schedule.last_slot_at_or_before(utc(2025, 8, 1)) == expected[2]
    assert schedule.last_slot_at_or_before(utc(2025, 1, 4)) is None


def test_every_60_days_keeps_its_local_time_across_dst() -> None:
    schedule = Schedule(IntervalRule(60, IntervalUnit.DAYS, date(2025, 1, 5)), time(2, 0), "Europe/Madrid")
    for slot in slots_after(schedule, utc(2025, 1, 1), 8):
        assert slot.astimezone(MADRID).strftime("%H:%M") == "02:00"


def test_weekly_slots_fall_on_the_named_weekdays() -> None:
    schedule = Schedule(WeeklyRule((2, 6)), time(3, 0), "America/Bogota")  # Wednesday and Sunday
    slots = slots_after(schedule, utc(2025, 3, 3), 4)  # a Monday
    assert [slot.astimezone(ZoneInfo("America/Bogota")).date() for slot in slots] == [
        date(2025, 3, 5),
        date(2025, 3, 9),
        date(2025, 3, 12),
        date(2025, 3, 16),
    ]


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (date(2024, 1, 31), date(2024, 2, 29)),  # leap year
        (date(2025, 1, 31), date(2025, 2, 28)),
        (date(2100, 1, 31), date(2100, 2, 28)),  # not a leap year (century)
        (date(2000, 1, 31), date(2000, 2, 29)),  # a leap year (400)
        (date(2025, 3, 31), date(2025, 4, 30)),
        (date(2025, 12, 31), date(2026, 1, 31)),
    ],
)
def test_monthly_on_the_last_day_follows_month_lengths_and_leap_years(after: date, expected: date) -> None:
    schedule = Schedule(MonthlyRule((LAST_DAY,)), time(2, 0), "UTC")
    instant = datetime.combine(after, time(2, 0), tzinfo=UTC)
    assert schedule.first_slot_after(instant) == datetime.combine(expected, time(2, 0), tzinfo=UTC)


def test_monthly_on_a_day_number_runs_every_month_and_crosses_the_year() -> None:
    schedule = Schedule(MonthlyRule((28,)), time(23, 0), "America/Guatemala")
    dates = [
        slot.astimezone(ZoneInfo("America/Guatemala")).date()
        for slot in slots_after(schedule, utc(2024, 11, 1), 4)
    ]
    assert dates == [date(2024, 11, 28), date(2024, 12, 28), date(2025, 1, 28), date(2025, 2, 28)]
    assert schedule.last_slot_at_or_before(utc(2025, 1, 15)) == local("America/Guatemala", 2024, 12, 28, 23)


def test_daily_slot_in_the_spring_forward_gap_runs_once_at_the_jump() -> None:
    schedule = Schedule(DailyRule(), time(2, 30), "Europe/Madrid")
    slots = slots_after(schedule, utc(2024, 3, 29, 12), 3)
    assert slots == [utc(2024, 3, 30, 1, 30), utc(2024, 3, 31, 1, 0), utc(2024, 4, 1, 0, 30)]


def test_daily_slot_in_the_fall_back_hour_runs_once() -> None:
    schedule = Schedule(DailyRule(), time(2, 30), "Europe/Madrid")
    slots = slots_after(schedule, utc(2024, 10, 26, 12), 2)
    assert slots == [utc(2024, 10, 27, 0, 30), utc(2024, 10, 28, 1, 30)]
    # Between the two occurrences of 02:30 there is no further slot that day.
    assert schedule.first_slot_after(utc(2024, 10, 27, 0, 45)) == utc(2024, 10, 28, 1, 30)


def test_santiago_midnight_slot_on_the_night_the_clocks_spring_forward() -> None:
    schedule = Schedule(DailyRule(), time(0, 0), "America/Santiago")
    slots = slots_after(schedule, utc(2024, 9, 6, 12), 3)
    assert slots == [utc(2024, 9, 7, 4), utc(2024, 9, 8, 4), utc(2024, 9, 9, 3)]


def test_window_crossing_midnight_contains_late_evening_and_early_morning() -> None:
    window = Window(time(22, 0), time(6, 0))
    assert window.contains(time(22, 0))
    assert window.contains(time(23, 59))
    assert window.contains(time(0, 0))
    assert window.contains(time(5, 59))
    assert not window.contains(time(6, 0))
    assert not window.contains(time(12, 0))
    assert not window.contains(time(21, 59))


def test_window_within_one_day_is_half_open() -> None:
    window = Window(time(1, 0), time(3, 0))
    assert [window.contains(time(hour, 0)) for hour in (0, 1, 2, 3)] == [False, True, True, False]


def test_earliest_start_waits_for_the_window_in_the_schedules_zone() -> None:
    schedule = Schedule(DailyRule(), time(1, 0), "America/Bogota", Window(time(22, 0), time(6, 0)))
    inside = local("America/Bogota", 2025, 3, 2, 23, 0)
    assert schedule.earliest_start(inside) == inside
    assert schedule.earliest_start(local("America/Bogota", 2025, 3, 2, 7, 0)) == local(
        "America/Bogota", 2025, 3, 2, 22, 0
    )
    narrow = Schedule(DailyRule(), time(1, 0), "America/Bogota", Window(time(1, 0), time(3, 0)))
    assert narrow.earliest_start(local("America/Bogota", 2025, 3, 2, 4, 0)) == local(
        "America/Bogota", 2025, 3, 3, 1, 0
    )


def test_window_of_zero_length_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidSchedule, match="zero length") as caught:
        Window(time(22, 0), time(22, 0))
    assert caught.value.field == "window.end"


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Schedule(IntervalRule(0, IntervalUnit.DAYS, date(2025, 1, 1))), "every"),
        (lambda: Schedule(IntervalRule(-3, IntervalUnit.HOURS, date(2025, 1, 1))), "every"),
        (lambda: Schedule(IntervalRule(10**30, IntervalUnit.DAYS, date(2025, 1, 1))), "every"),
        (lambda: Schedule(MonthlyRule((32,)), time(1, 0)), "days"),
        (lambda: Schedule(MonthlyRule((0,)), time(1, 0)), "days"),
        (lambda: Schedule(MonthlyRule(()), time(1, 0)), "days"),
        (lambda: Schedule(MonthlyRule(("first",)), time(1, 0)), "days"),
        (lambda: Schedule(WeeklyRule(()), time(1, 0)), "weekdays"),
        (lambda: Schedule(WeeklyRule((7,)), time(1, 0)), "weekdays"),
        (lambda: Schedule(DailyRule(), time(1, 0, 30)), "at"),
        (lambda: Schedule(DailyRule(), time(1, 0), "Mars/Olympus_Mons"), "timezone"),
    ],
)
def test_impossible_schedules_are_refused_naming_the_field(build: object, field: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        build()  # type: ignore[operator]
    assert caught.value.field == field
    assert f"'{field}'" in str(caught.value)


def test_window_inside_the_skipped_hour_opens_the_next_night() -> None:
    schedule = Schedule(DailyRule(), time(2, 0), "Europe/Madrid", Window(time(2, 0), time(2, 30)))
    # 2024-03-31: the clocks jump from 02:00 to 03:00, so the window does not open that night.
    opening = schedule.earliest_start(datetime(2024, 3, 30, 23, 0, tzinfo=UTC))
    assert opening == datetime(2024, 4, 1, 0, 0, tzinfo=UTC)
    assert schedule.window_allows(opening)


def test_monthly_on_several_days_gives_each_day_in_order_across_months() -> None:
    schedule = Schedule(MonthlyRule.of([15, LAST_DAY, 1]), time(1, 0), "UTC")
    assert schedule.rule == MonthlyRule((1, 15, LAST_DAY))
    dates = [slot.date() for slot in slots_after(schedule, utc(2024, 2, 10), 5)]
    assert dates == [
        date(2024, 2, 15),
        date(2024, 2, 29),
        date(2024, 3, 1),
        date(2024, 3, 15),
        date(2024, 3, 31),
    ]
    assert schedule.last_slot_at_or_before(utc(2024, 3, 1, 0, 59)) == utc(2024, 2, 29, 1)
    assert schedule.last_slot_at_or_before(utc(2024, 3, 14)) == utc(2024, 3, 1, 1)


def test_monthly_day_a_month_lacks_means_its_last_day_and_two_such_days_one_slot() -> None:
    schedule = Schedule(MonthlyRule((29, 30, 31)), time(3, 0), "UTC")
    dates = [slot.date() for slot in slots_after(schedule, utc(2025, 1, 31, 12), 4)]
    assert dates == [date(2025, 2, 28), date(2025, 3, 29), date(2025, 3, 30), date(2025, 3, 31)]
    assert schedule.last_slot_at_or_before(utc(2025, 3, 28)) == utc(2025, 2, 28, 3)
