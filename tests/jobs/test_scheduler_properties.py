"""Properties of the scheduler over generated schedules, zones (with and without DST), states and times."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from resguardo.jobs import (
    LAST_DAY,
    DailyRule,
    DueRun,
    IntervalRule,
    IntervalUnit,
    JobState,
    MonthlyRule,
    Schedule,
    Trigger,
    WeeklyRule,
    Window,
    next_run,
    plan,
)

ZONES = [
    "UTC",
    "America/Bogota",
    "America/Guatemala",
    "America/Mexico_City",
    "America/Santiago",
    "Europe/Madrid",
]
BASE = datetime(2024, 1, 1, tzinfo=UTC)
SPAN_MINUTES = 2 * 366 * 24 * 60  # two years: every DST change of 2024 and 2025

instants = st.integers(0, SPAN_MINUTES).map(lambda minutes: BASE + timedelta(minutes=minutes))
wall_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 59]))
rules = st.one_of(
    st.builds(
        IntervalRule,
        every=st.integers(1, 90),
        unit=st.sampled_from(list(IntervalUnit)),
        start=st.dates(date(2023, 6, 1), date(2025, 6, 1)),
    ).filter(lambda rule: rule.unit != IntervalUnit.MINUTES or rule.every >= 15),
    st.just(DailyRule()),
    st.builds(WeeklyRule, st.sets(st.integers(0, 6), min_size=1).map(lambda days: tuple(sorted(days)))),
    st.lists(st.one_of(st.integers(1, 31), st.just(LAST_DAY)), min_size=1, max_size=4).map(MonthlyRule.of),
)
windows = st.one_of(
    st.none(),
    st.tuples(wall_times, wall_times).filter(lambda pair: pair[0] != pair[1]).map(lambda pair: Window(*pair)),
)
schedules = st.builds(Schedule, rule=rules, at=wall_times, timezone=st.sampled_from(ZONES), window=windows)


@st.composite
def job_states(draw: st.DrawFn, job_id: int = 0) -> JobState:
    schedule = draw(schedules)
    effective_since = draw(instants)
    last = draw(st.one_of(st.none(), instants.filter(lambda instant: instant >= effective_since)))
    if last is not None:
        last = schedule.last_slot_at_or_before(last) or last
    return JobState(
        job_id=job_id,
        schedule=schedule,
        effective_since=effective_since,
        last_scheduled_slot=last,
        paused=draw(st.booleans()),
        run_in_progress=draw(st.booleans()),
        run_now_requested_at=draw(st.one_of(st.none(), instants)),
    )


@st.composite
def job_lists(draw: st.DrawFn) -> list[JobState]:
    count = draw(st.integers(1, 8))
    return [draw(job_states(job_id=number)) for number in range(count)]


def record(job: JobState, run: DueRun) -> JobState:
    """Return ``job`` after ``run`` was queued and finished: its slot stored, its request answered."""
    slot = run.schedule_slot if run.schedule_slot is not None else job.last_scheduled_slot
    request = None if run.trigger == Trigger.MANUAL else job.run_now_requested_at
    return replace(job, last_scheduled_slot=slot, run_now_requested_at=request)


@given(job_lists(), instants)
def test_plan_is_idempotent_once_its_runs_are_recorded(jobs: list[JobState], now: datetime) -> None:
    runs = {run.job_id: run for run in plan(jobs, now)}
    recorded = [record(job, runs[job.job_id]) if job.job_id in runs else job for job in jobs]
    assert plan(recorded, now) == []


@given(job_lists(), instants)
def test_no_job_appears_twice_and_paused_or_busy_jobs_never_appear(
    jobs: list[JobState], now: datetime
) -> None:
    runs = plan(jobs, now)
    ids = [run.job_id for run in runs]
    assert len(ids) == len(set(ids))
    blocked = {job.job_id for job in jobs if job.paused or job.run_in_progress}
    assert not blocked & set(ids)


@given(job_lists(), instants)
def test_scheduled_runs_take_a_new_past_slot_inside_the_window(jobs: list[JobState], now: datetime) -> None:
    by_id = {job.job_id: job for job in jobs}
    for run in plan(jobs, now):
        job = by_id[run.job_id]
        if run.schedule_slot is not None:
            assert job.reference < run.schedule_slot <= now
            assert run.schedule_slot == job.schedule.last_slot_at_or_before(now)  # the latest: caught up once
        if run.trigger != Trigger.MANUAL:
            assert run.scheduled_for == run.schedule_slot
            assert job.schedule.window_allows(now)


@given(job_states(), instants)
def test_next_run_is_when_plan_first_gives_the_job_a_run(job: JobState, now: datetime) -> None:
    job = replace(job, paused=False, run_in_progress=False, run_now_requested_at=None)
    expected = next_run(job, now)
    assert expected is not None
    assert expected >= now
    if expected > now:
        assert plan([job], now) == []
        assert plan([job], expected - timedelta(seconds=1)) == []
    assert [run.job_id for run in plan([job], expected)] == [job.job_id]


@given(job_states(), st.lists(st.integers(1, 3 * 24 * 60), min_size=1, max_size=40))
def test_a_job_driven_through_time_never_runs_a_slot_twice_nor_goes_back(
    job: JobState, steps: list[int]
) -> None:
    job = replace(job, paused=False, run_in_progress=False, run_now_requested_at=None)
    now = job.reference
    slots: list[datetime] = []
    for minutes in steps:
        now += timedelta(minutes=minutes)
        for run in plan([job], now):
            assert run.schedule_slot is not None
            slots.append(run.schedule_slot)
            job = record(job, run)
    assert slots == sorted(set(slots))
