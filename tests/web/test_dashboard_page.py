"""The console's home: the dashboard (same figures as GET /api/v1/dashboard) with its inline SVG chart
for those who may read it, a welcome page for the others."""

from __future__ import annotations

from datetime import date, timedelta

from resguardo.catalog.enums import Language, Role, RunState, RunTrigger, Transport, Verification
from resguardo.catalog.queries import (
    create_client,
    create_job,
    create_repository,
    enqueue_run,
    find_category,
    open_failure,
)
from resguardo.catalog.queries.dashboard import DayFigures
from resguardo.web.chart import BYTES_HEIGHT, RUNS_HEIGHT, chart_of
from tests.api.conftest import NOW
from tests.web.conftest import Console


def _finished_runs(console: Console) -> None:
    with console.sessions() as session:
        client = create_client(session, name="files", transport=Transport.LOCAL, now=NOW)
        repository = create_repository(session, console.secret_key, name="archive", url="/srv/a", now=NOW)
        job = create_job(
            session,
            name="shares",
            client_id=client.id,
            repository_id=repository.id,
            category_id=find_category(session, "databases").id,
            schedule={"kind": "daily", "at": "02:00"},
            now=NOW,
        )
        for days_ago, state, added in ((2, RunState.SUCCEEDED, 2_500_000), (1, RunState.FAILED, 0)):
            run = enqueue_run(
                session, job.id, trigger=RunTrigger.SCHEDULED, now=NOW - timedelta(days=days_ago)
            )
            run.state, run.finished_at, run.bytes_added = state, NOW - timedelta(days=days_ago), added
        session.commit()


def test_dashboard_shows_jobs_bytes_and_a_chart_in_the_users_language(console: Console) -> None:
    _finished_runs(console)
    console.user("dora", [Role.IT_DIRECTOR])
    console.user("ed", [Role.AUDITOR], language=Language.ENGLISH)

    spanish = console.browser("dora").get("/").text
    english = console.browser("ed").get("/").text

    assert "<h1>Panel</h1>" in spanish and "shares" in spanish and "Fallida" in spanish
    assert "2,5 MB" in spanish and "3 mar 2026" in spanish  # next run: the day after, at 02:00
    assert "<h1>Dashboard</h1>" in english and "2.5 MB" in english and "Mar 3, 2026" in english
    assert english.count('class="bar-succeeded"') == 30 and "<svg" in english


def test_roles_without_the_dashboard_get_a_welcome_page(console: Console) -> None:
    console.user("rita", [Role.REQUESTER])

    page = console.browser("rita").get("/")

    assert page.status_code == 200 and "<h1>Bienvenido</h1>" in page.text and "shares" not in page.text
    assert 'href="/users"' not in page.text and 'href="/jobs"' not in page.text


def test_chart_scales_each_day_to_the_busiest_one() -> None:
    days = [
        DayFigures(date(2026, 3, 1), runs=4, succeeded=2, partial=1, failed=1, bytes_read=0, bytes_added=100),
        DayFigures(date(2026, 3, 2), runs=2, succeeded=2, partial=0, failed=0, bytes_read=0, bytes_added=50),
        DayFigures(date(2026, 3, 3), runs=0, succeeded=0, partial=0, failed=0, bytes_read=0, bytes_added=0),
    ]

    chart = chart_of(days)

    first, second, empty = chart.bars
    assert first.succeeded + first.partial + first.failed == RUNS_HEIGHT
    assert second.succeeded == RUNS_HEIGHT / 2 and first.bytes_added == BYTES_HEIGHT
    assert second.bytes_added == BYTES_HEIGHT / 2 and empty.succeeded == 0 == empty.bytes_added
    assert first.x < second.x < empty.x and chart.most_runs == 4
    assert chart_of([]).bars == []


def test_dashboard_lists_only_the_jobs_with_open_failures_when_asked(console: Console) -> None:
    _finished_runs(console)
    with console.sessions() as session:
        job = create_job(
            session,
            name="quiet-shares",
            client_id=create_client(session, name="other", transport=Transport.LOCAL, now=NOW).id,
            repository_id=create_repository(session, console.secret_key, name="b", url="/srv/b", now=NOW).id,
            category_id=find_category(session, "databases").id,
            now=NOW,
        )
        failed = enqueue_run(session, job.id, trigger=RunTrigger.SCHEDULED, now=NOW)
        failed.state, failed.finished_at = RunState.FAILED, NOW
        open_failure(session, failed, NOW)
        session.commit()
    console.user("ed", [Role.AUDITOR], language=Language.ENGLISH)

    everything = console.browser("ed").get("/").text
    attention = console.browser("ed").get("/?attention=1").text

    assert "quiet-shares" in everything and ">shares<" in everything
    assert "quiet-shares" in attention and ">shares<" not in attention
    assert "Jobs that need attention" in attention


def test_the_attention_filter_includes_jobs_whose_latest_backup_warned_in_verification(
    console: Console,
) -> None:
    _finished_runs(console)
    with console.sessions() as session:
        job = create_job(
            session,
            name="shrinking-shares",
            client_id=create_client(session, name="other", transport=Transport.LOCAL, now=NOW).id,
            repository_id=create_repository(session, console.secret_key, name="b", url="/srv/b", now=NOW).id,
            category_id=find_category(session, "databases").id,
            now=NOW,
        )
        warned = enqueue_run(session, job.id, trigger=RunTrigger.SCHEDULED, now=NOW)
        warned.state, warned.finished_at, warned.verification = RunState.SUCCEEDED, NOW, Verification.WARNINGS
        session.commit()
    console.user("ed", [Role.AUDITOR], language=Language.ENGLISH)

    attention = console.browser("ed").get("/?attention=1").text

    assert "shrinking-shares" in attention and ">shares<" not in attention
    assert 'data-verification="warnings"' in attention and "Verification warnings" in attention
