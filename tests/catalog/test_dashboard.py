"""The dashboard's figures: job lines with last runs and open failures, bytes per repository, the last
days, and a number of queries that does not grow with the number of jobs."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, event, insert
from sqlalchemy.orm import Session

from resguardo.catalog.enums import RunState, RunTrigger
from resguardo.catalog.models import Job, Run
from resguardo.catalog.queries import enqueue_run, find_category, open_failure
from resguardo.catalog.queries.dashboard import dashboard
from tests.catalog.conftest import NOW, Inventory


def _finished(session: Session, job_id: int, state: RunState, at_days_ago: int, added: int) -> Run:
    """Add a run of ``job_id`` that finished ``at_days_ago`` days before NOW + 1 day, in ``state``."""
    when = NOW + timedelta(days=1) - timedelta(days=at_days_ago)
    run = enqueue_run(session, job_id, trigger=RunTrigger.MANUAL, now=when - timedelta(minutes=5))
    run.state = state
    run.started_at = when - timedelta(minutes=4)
    run.finished_at = when
    run.bytes_read = added * 10
    run.bytes_added = added
    session.flush()
    return run


def test_dashboard_gives_each_job_its_last_run_open_failures_and_running_state(
    session: Session, inventory: Inventory
) -> None:
    quiet = inventory.job(session, "quiet")
    busy = inventory.job(session, "busy")
    _finished(session, busy.id, RunState.SUCCEEDED, 3, 100)
    failed = _finished(session, busy.id, RunState.FAILED, 2, 0)
    open_failure(session, failed, failed.finished_at)  # type: ignore[arg-type]
    latest = enqueue_run(session, busy.id, trigger=RunTrigger.MANUAL, now=NOW + timedelta(days=1))
    session.commit()

    figures = dashboard(session, NOW + timedelta(days=1))

    lines = {line.name: line for line in figures.jobs.items}
    assert [line.name for line in figures.jobs.items] == ["busy", "quiet"]
    assert lines["quiet"].last_run_id is None and lines["quiet"].open_failures == 0
    assert lines["busy"].last_run_id == latest.id
    assert lines["busy"].last_run_state is RunState.QUEUED
    assert lines["busy"].scheduling.run_in_progress
    assert not lines["quiet"].scheduling.run_in_progress
    assert lines["busy"].open_failures == 1 and figures.open_failures == 1
    assert figures.jobs_with_open_failures == 1
    assert lines["busy"].client_name == "db1" and lines["busy"].repository_name == "main"
    assert figures.runs_by_state["succeeded"] == 1 and figures.runs_by_state["queued"] == 1
    assert quiet.id != busy.id


def test_dashboard_sums_bytes_per_repository_and_counts_runs_per_day(
    session: Session, inventory: Inventory
) -> None:
    job = inventory.job(session, "daily")
    _finished(session, job.id, RunState.SUCCEEDED, 0, 1000)
    _finished(session, job.id, RunState.FAILED, 0, 0)
    _finished(session, job.id, RunState.PARTIAL, 5, 300)
    _finished(session, job.id, RunState.SUCCEEDED, 40, 7)  # older than the 30 days shown
    session.commit()

    figures = dashboard(session, NOW + timedelta(days=1), days=30)

    [repository] = figures.repositories
    assert (repository.name, repository.bytes_added, repository.bytes_read, repository.runs) == (
        "main",
        1300,
        13000,
        3,
    )
    assert len(figures.days) == 30
    assert figures.days[-1].day == (NOW + timedelta(days=1)).date()
    today, five_days_ago = figures.days[-1], figures.days[-6]
    assert (today.runs, today.succeeded, today.failed, today.bytes_added) == (2, 1, 1, 1000)
    assert (five_days_ago.runs, five_days_ago.partial, five_days_ago.bytes_added) == (1, 1, 300)
    assert sum(day.runs for day in figures.days) == 3


def test_dashboard_queries_do_not_grow_with_the_number_of_jobs(
    session: Session, engine: Engine, inventory: Inventory
) -> None:
    category_id = find_category(session, "databases").id
    schedule = {"kind": "daily", "at": "01:00"}
    rows = [
        {
            "name": f"job-{number:04d}",
            "client_id": inventory.client.id,
            "repository_id": inventory.repository.id,
            "category_id": category_id,
            "schedule": schedule,
            "retention": {"keep_last": 1},
            "created_at": NOW,
            "updated_at": NOW,
        }
        for number in range(3000)
    ]
    session.execute(insert(Job), rows)
    session.commit()
    job_ids = list(session.scalars(Job.__table__.select().with_only_columns(Job.id)))
    session.execute(
        insert(Run),
        [
            {
                "job_id": job_id,
                "state": RunState.SUCCEEDED,
                "trigger": RunTrigger.SCHEDULED,
                "queued_at": NOW,
                "not_before": NOW,
                "finished_at": NOW,
                "bytes_added": 1,
            }
            for job_id in job_ids
        ],
    )
    session.commit()
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        figures = dashboard(session, NOW + timedelta(hours=1))
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert figures.jobs.total == 3000 and len(figures.jobs.items) == 50
    assert all(line.last_run_state is RunState.SUCCEEDED for line in figures.jobs.items)
    assert figures.days[-1].runs == 3000
    assert len(statements) <= 9, statements


def test_dashboard_pages_its_job_lines_and_shows_those_that_need_attention(
    session: Session, inventory: Inventory
) -> None:
    jobs = [inventory.job(session, f"job-{number}") for number in range(5)]
    failed = _finished(session, jobs[3].id, RunState.FAILED, 1, 0)
    open_failure(session, failed, failed.finished_at)  # type: ignore[arg-type]
    session.commit()

    second_page = dashboard(session, NOW + timedelta(days=1), offset=2, limit=2)
    attention = dashboard(session, NOW + timedelta(days=1), open_failures_only=True)
    named = dashboard(session, NOW + timedelta(days=1), name_contains="job-4")

    assert [line.name for line in second_page.jobs.items] == ["job-2", "job-3"]
    assert second_page.jobs.total == 5
    assert [line.name for line in attention.jobs.items] == ["job-3"]
    assert [line.name for line in named.jobs.items] == ["job-4"]


def test_settled_past_days_are_kept_and_only_today_is_read_again(
    session: Session, engine: Engine, inventory: Inventory
) -> None:
    job = inventory.job(session, "daily")
    _finished(session, job.id, RunState.SUCCEEDED, 3, 100)
    session.commit()
    now = NOW + timedelta(days=1)
    first = dashboard(session, now)
    _finished(session, job.id, RunState.SUCCEEDED, 0, 10)  # today: read again
    session.commit()
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        second = dashboard(session, now)
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert first.days[-4].runs == second.days[-4].runs == 1
    assert (first.days[-1].runs, second.days[-1].runs) == (0, 1)
    assert second.repositories[0].bytes_added == 110
    [days_query] = [statement for statement in statements if "CASE" in statement]
    assert days_query.count("WHEN") == 2  # one bucket (today), in the SELECT and in the GROUP BY
