"""The scheduler's rules, driven by a fake clock: due slots, catch-up once, no duplicates, pauses,
one run per job, windows, run-now requests, and the "next run" column."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from resguardo.clock import FakeClock
from resguardo.jobs import (
    DailyRule,
    DueRun,
    IntervalRule,
    IntervalUnit,
    JobState,
    Schedule,
    Trigger,
    Window,
    next_run,
    parse_schedule_text,
    plan,
)

BOGOTA = ZoneInfo("America/Bogota")  # UTC-5 all year
DAILY_AT_ONE = Schedule(DailyRule(), time(1, 0), "America/Bogota")
CREATED = datetime(2025, 3, 1, 12, 0, tzinfo=BOGOTA)
HOUR = 3600


def bogota(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BOGOTA)  # type: ignore[misc]


def daily_job(job_id: str = "db", **changes: object) -> JobState:
    return replace(JobState(job_id, DAILY_AT_ONE, effective_since=CREATED), **changes)  # type: ignore[arg-type]


def record(job: JobState, run: DueRun, *, in_progress: bool = False) -> JobState:
    """Return the job as the catalog leaves it after queueing ``run`` (and finishing it, unless not)."""
    slot = run.schedule_slot if run.schedule_slot is not None else job.last_scheduled_slot
    request = None if run.trigger == Trigger.MANUAL else job.run_now_requested_at
    return replace(job, last_scheduled_slot=slot, run_now_requested_at=request, run_in_progress=in_progress)


def test_new_job_is_not_due_until_its_first_slot() -> None:
    clock = FakeClock(CREATED)
    job = daily_job()
    assert plan([job], clock.now()) == []
    clock.advance(12 * HOUR + 59 * 60)  # 00:59 the next day
    assert plan([job], clock.now()) == []
    clock.advance(60)  # 01:00
    assert plan([job], clock.now()) == [
        DueRun("db", bogota(2025, 3, 2, 1), Trigger.SCHEDULED, bogota(2025, 3, 2, 1))
    ]


def test_slot_already_run_or_queued_never_runs_again() -> None:
    clock = FakeClock(bogota(2025, 3, 2, 1, 0))
    job = daily_job()
    [run] = plan([job], clock.now())
    queued = record(job, run, in_progress=True)
    assert plan([queued], clock.now()) == []
    finished = record(job, run)
    for _ in range(23):
        clock.advance(HOUR)
        assert plan([finished], clock.now()) == [], clock.now()
    clock.advance(HOUR)  # 01:00 the day after
    assert [run.scheduled_for for run in plan([finished], clock.now())] == [bogota(2025, 3, 3, 1)]


def test_ten_days_of_downtime_give_exactly_one_catch_up_run_for_the_latest_slot() -> None:
    last = bogota(2025, 3, 2, 1)
    job = daily_job(last_scheduled_slot=last)
    clock = FakeClock(last + timedelta(days=10, hours=9))  # back at 10:00, ten days later
    runs = plan([job], clock.now())
    assert runs == [DueRun("db", bogota(2025, 3, 12, 1), Trigger.CATCH_UP, bogota(2025, 3, 12, 1))]
    after = record(job, runs[0])
    assert plan([after], clock.now()) == []
    clock.advance(14 * HOUR)  # 00:00 on the 13th
    assert plan([after], clock.now()) == []
    clock.advance(HOUR)
    assert [run.trigger for run in plan([after], clock.now())] == [Trigger.SCHEDULED]


def test_paused_job_never_runs_not_even_on_request() -> None:
    job = daily_job(paused=True, run_now_requested_at=bogota(2025, 3, 5, 9))
    assert plan([job], bogota(2025, 3, 5, 10)) == []
    assert next_run(job, bogota(2025, 3, 5, 10)) is None


def test_job_with_a_run_in_progress_gets_no_second_run() -> None:
    job = daily_job(last_scheduled_slot=bogota(2025, 3, 2, 1), run_in_progress=True)
    assert plan([job], bogota(2025, 3, 4, 1)) == []
    requested = replace(job, run_now_requested_at=bogota(2025, 3, 4, 2))
    assert plan([requested], bogota(2025, 3, 4, 3)) == []


def test_slots_missed_while_a_run_was_in_progress_are_caught_up_once_after_it() -> None:
    job = replace(
        JobState("hourly", parse_schedule_text("every 1 hour", start=date(2025, 3, 1)), CREATED),
        last_scheduled_slot=datetime(2025, 3, 2, 0, tzinfo=UTC),
    )
    long_run_ends = datetime(2025, 3, 2, 4, 30, tzinfo=UTC)
    runs = plan([job], long_run_ends)
    assert runs == [
        DueRun(
            "hourly",
            datetime(2025, 3, 2, 4, tzinfo=UTC),
            Trigger.CATCH_UP,
            datetime(2025, 3, 2, 4, tzinfo=UTC),
        )
    ]


def test_window_holds_a_due_run_until_it_opens_then_runs_it_once() -> None:
    # Every 6 hours (00, 06, 12, 18 local) with a window of 22:00-06:00.
    schedule = Schedule(
        IntervalRule(6, IntervalUnit.HOURS, date(2025, 3, 1)),
        time(0, 0),
        "America/Bogota",
        Window(time(22, 0), time(6, 0)),
    )
    job = JobState("files", schedule, effective_since=CREATED, last_scheduled_slot=bogota(2025, 3, 2, 0))
    clock = FakeClock(bogota(2025, 3, 2, 5, 59))
    assert plan([job], clock.now()) == []  # the 06:00 slot has not come yet
    for _ in range(16):  # 06:59 ... 21:59: slots 06, 12 and 18 come, the window is shut
        clock.advance(HOUR)
        assert plan([job], clock.now()) == [], clock.now()
        assert next_run(job, clock.now()) == bogota(2025, 3, 2, 22)
    clock.advance(60)  # 22:00: the window opens
    runs = plan([job], clock.now())
    assert runs == [DueRun("files", bogota(2025, 3, 2, 18), Trigger.CATCH_UP, bogota(2025, 3, 2, 18))]
    assert plan([record(job, runs[0])], clock.now()) == []
    clock.advance(2 * HOUR)  # 00:00: a new slot inside the window
    assert [run.trigger for run in plan([record(job, runs[0])], clock.now())] == [Trigger.SCHEDULED]


def test_window_crossing_midnight_lets_a_night_slot_run_on_time() -> None:
    schedule = parse_schedule_text("daily at 01:00 in America/Guatemala window 22:00-06:00")
    guatemala = ZoneInfo("America/Guatemala")
    job = JobState("db", schedule, effective_since=datetime(2025, 3, 1, 12, tzinfo=guatemala))
    assert [run.trigger for run in plan([job], datetime(2025, 3, 2, 1, tzinfo=guatemala))] == [
        Trigger.SCHEDULED
    ]


def test_slot_due_after_the_window_closed_waits_for_the_next_evening() -> None:
    # A daily 05:30 slot, missed because the service was down from 05:00 to 07:00, window until 06:00.
    schedule = parse_schedule_text("daily at 05:30 in America/Bogota window 22:00-06:00")
    job = JobState("db", schedule, effective_since=CREATED, last_scheduled_slot=bogota(2025, 3, 1, 5, 30))
    assert plan([job], bogota(2025, 3, 2, 7)) == []
    assert next_run(job, bogota(2025, 3, 2, 7)) == bogota(2025, 3, 2, 22)
    assert [run.scheduled_for for run in plan([job], bogota(2025, 3, 2, 22))] == [bogota(2025, 3, 2, 5, 30)]


def test_run_now_gives_one_manual_run_even_outside_the_window() -> None:
    schedule = parse_schedule_text("daily at 01:00 in America/Bogota window 22:00-06:00")
    requested = bogota(2025, 3, 3, 14, 0)
    job = JobState(
        "db", schedule, CREATED, last_scheduled_slot=bogota(2025, 3, 3, 1), run_now_requested_at=requested
    )
    runs = plan([job], bogota(2025, 3, 3, 14, 0, 5))
    assert runs == [DueRun("db", requested, Trigger.MANUAL, None)]
    assert next_run(job, bogota(2025, 3, 3, 14, 0, 5)) == bogota(2025, 3, 3, 14, 0, 5)
    answered = record(job, runs[0])
    assert plan([answered], bogota(2025, 3, 3, 14, 1)) == []
    assert answered.last_scheduled_slot == bogota(2025, 3, 3, 1)  # the manual run took no slot
    assert [run.trigger for run in plan([answered], bogota(2025, 3, 4, 1))] == [Trigger.SCHEDULED]


def test_run_now_while_a_slot_is_due_is_one_run_that_takes_the_slot() -> None:
    job = daily_job(last_scheduled_slot=bogota(2025, 3, 2, 1), run_now_requested_at=bogota(2025, 3, 3, 8))
    runs = plan([job], bogota(2025, 3, 3, 8))
    assert runs == [DueRun("db", bogota(2025, 3, 3, 8), Trigger.MANUAL, bogota(2025, 3, 3, 1))]
    assert plan([record(job, runs[0])], bogota(2025, 3, 3, 8)) == []


def test_schedule_change_does_not_run_slots_from_before_it() -> None:
    job = daily_job(last_scheduled_slot=bogota(2025, 3, 3, 1))
    edited = replace(
        job,
        schedule=parse_schedule_text("daily at 03:00 in America/Bogota"),
        effective_since=bogota(2025, 3, 3, 10),
    )
    assert plan([edited], bogota(2025, 3, 3, 10, 1)) == []
    assert next_run(edited, bogota(2025, 3, 3, 10, 1)) == bogota(2025, 3, 4, 3)


def test_every_60_days_job_runs_on_its_anchored_dates_only() -> None:
    schedule = parse_schedule_text("every 60 days at 02:00 starting 2025-01-05 in America/Mexico_City")
    mexico = ZoneInfo("America/Mexico_City")
    job = JobState("docs", schedule, effective_since=datetime(2025, 1, 1, tzinfo=mexico))
    clock = FakeClock(datetime(2025, 1, 1, tzinfo=mexico))
    run_dates = []
    for _ in range(200 * 4):  # 200 days in 6-hour steps
        clock.advance(6 * HOUR)
        for run in plan([job], clock.now()):
            run_dates.append(run.scheduled_for.astimezone(mexico).date())
            job = record(job, run)
    assert run_dates == [date(2025, 1, 5), date(2025, 3, 6), date(2025, 5, 5), date(2025, 7, 4)]


def test_dst_spring_forward_gives_one_run_at_the_jump() -> None:
    job = JobState(
        "cfg", parse_schedule_text("daily at 02:30 in Europe/Madrid"), datetime(2024, 3, 30, 12, tzinfo=UTC)
    )
    clock = FakeClock(datetime(2024, 3, 30, 12, tzinfo=UTC))
    slots = []
    for _ in range(48 * 4):  # two days in 15-minute steps
        clock.advance(15 * 60)
        for run in plan([job], clock.now()):
            slots.append(run.scheduled_for)
            job = record(job, run)
    assert slots == [datetime(2024, 3, 31, 1, 0, tzinfo=UTC), datetime(2024, 4, 1, 0, 30, tzinfo=UTC)]


def test_dst_fall_back_gives_one_run_for_the_repeated_hour() -> None:
    job = JobState(
        "cfg", parse_schedule_text("daily at 02:30 in Europe/Madrid"), datetime(2024, 10, 26, 12, tzinfo=UTC)
    )
    clock = FakeClock(datetime(2024, 10, 26, 12, tzinfo=UTC))
    slots = []
    for _ in range(24 * 4):
        clock.advance(15 * 60)
        for run in plan([job], clock.now()):
            slots.append(run.scheduled_for)
            job = record(job, run)
    assert slots == [datetime(2024, 10, 27, 0, 30, tzinfo=UTC)]


def test_dst_in_santiago_daily_midnight_runs_once_a_day_through_both_changes() -> None:
    santiago = ZoneInfo("America/Santiago")
    for start in (datetime(2024, 4, 4, tzinfo=UTC), datetime(2024, 9, 5, tzinfo=UTC)):
        job = JobState("db", parse_schedule_text("daily at 00:00 in America/Santiago"), start)
        clock = FakeClock(start)
        dates = []
        for _ in range(6 * 24):
            clock.advance(HOUR)
            for run in plan([job], clock.now()):
                dates.append(run.scheduled_for.astimezone(santiago).date())
                job = record(job, run)
        assert dates == sorted(set(dates))
        assert len(dates) == 6


def test_plan_returns_manual_runs_first_then_by_slot() -> None:
    now = bogota(2025, 3, 5, 12)
    jobs = [
        daily_job("late", last_scheduled_slot=bogota(2025, 3, 4, 1)),
        daily_job(
            "early",
            last_scheduled_slot=bogota(2025, 3, 2, 1),
            schedule=parse_schedule_text("daily at 00:00 in America/Bogota"),
        ),
        daily_job(
            "asked", last_scheduled_slot=bogota(2025, 3, 5, 1), run_now_requested_at=bogota(2025, 3, 5, 11)
        ),
        daily_job("idle", last_scheduled_slot=bogota(2025, 3, 5, 1)),
    ]
    assert [run.job_id for run in plan(jobs, now)] == ["asked", "early", "late"]


def test_plan_refuses_a_naive_now_and_a_job_given_twice() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan([daily_job()], datetime(2025, 3, 5, 12))
    with pytest.raises(ValueError, match="twice"):
        plan([daily_job(), daily_job()], bogota(2025, 3, 5, 12))


def test_next_run_is_the_next_slot_or_now_when_due() -> None:
    job = daily_job(last_scheduled_slot=bogota(2025, 3, 5, 1))
    assert next_run(job, bogota(2025, 3, 5, 12)) == bogota(2025, 3, 6, 1)
    assert next_run(job, bogota(2025, 3, 7, 12)) == bogota(2025, 3, 7, 12)
    busy = replace(job, run_in_progress=True)
    assert next_run(busy, bogota(2025, 3, 7, 12)) == bogota(2025, 3, 7, 12)


def _runs_over(job: JobState, clock: FakeClock, days: int) -> list[DueRun]:
    """Return the runs planned hour by hour for ``days`` days, each recorded as done at once."""
    runs = []
    for _ in range(days * 24):
        clock.advance(HOUR)
        for run in plan([job], clock.now()):
            runs.append(run)
            job = record(job, run)
    return runs


def test_monthly_job_on_several_days_runs_once_on_each_of_them() -> None:
    clock = FakeClock(bogota(2025, 1, 1, 12))
    schedule = parse_schedule_text("monthly on days 1, 15 and the last day at 01:00 in America/Bogota")
    job = JobState("ledger", schedule, effective_since=clock.now())
    runs = _runs_over(job, clock, 62)  # January and February 2025
    assert [run.scheduled_for for run in runs] == [
        bogota(2025, 1, 15, 1),
        bogota(2025, 1, 31, 1),
        bogota(2025, 2, 1, 1),
        bogota(2025, 2, 15, 1),
        bogota(2025, 2, 28, 1),
        bogota(2025, 3, 1, 1),
    ]
    assert {run.trigger for run in runs} == {Trigger.SCHEDULED}


def test_monthly_day_a_short_month_lacks_runs_on_its_last_day_once() -> None:
    clock = FakeClock(bogota(2025, 1, 20))
    schedule = parse_schedule_text("monthly on days 30, 31 at 02:00 in America/Bogota")
    job = JobState("books", schedule, effective_since=clock.now())
    runs = _runs_over(job, clock, 40)
    assert [run.scheduled_for for run in runs] == [
        bogota(2025, 1, 30, 2),
        bogota(2025, 1, 31, 2),
        bogota(2025, 2, 28, 2),  # February has neither: one run on its last day
    ]


def test_monthly_job_on_several_days_catches_up_once_for_the_latest_missed_day() -> None:
    clock = FakeClock(bogota(2025, 1, 1, 12))
    schedule = parse_schedule_text("monthly on days 5, 10, 20 at 01:00 in America/Bogota")
    job = JobState("ledger", schedule, effective_since=clock.now())
    clock.advance(24 * 24 * HOUR)  # down until 25 January: the 5th, 10th and 20th were missed
    assert plan([job], clock.now()) == [
        DueRun("ledger", bogota(2025, 1, 20, 1), Trigger.CATCH_UP, bogota(2025, 1, 20, 1))
    ]
