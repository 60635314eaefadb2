"""Jobs take their category's defaults, keep records a year at least, and take only valid schedules."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest
from sqlalchemy.orm import Session

from resguardo.catalog.queries import find_category, list_jobs, update_category, update_job
from resguardo.core.errors import ConfigurationError, Conflict, NotFound, UsageError
from resguardo.schedules import (
    IntervalRule,
    IntervalUnit,
    InvalidSchedule,
    MonthlyRule,
    Window,
    schedule_from_dict,
)
from tests.catalog.conftest import NOW, Inventory


def test_a_new_job_takes_the_schedule_and_retention_of_its_category(
    session: Session, inventory: Inventory
) -> None:
    job = inventory.job(session, "configs", category="server-configuration")
    session.commit()
    schedule = schedule_from_dict(job.schedule)
    # The category's default has no start: the job's interval counts from the day it was created.
    assert "start" not in find_category(session, "server-configuration").default_schedule
    assert schedule.rule == IntervalRule(60, IntervalUnit.DAYS, NOW.date())
    assert schedule.at == time(2, 0)
    assert job.retention == find_category(session, "server-configuration").default_retention
    assert job.records_keep_days == 365


def test_every_60_days_at_0200_inside_a_night_window_is_a_valid_schedule(
    session: Session, inventory: Inventory
) -> None:
    document = {
        "kind": "interval",
        "every": 60,
        "unit": "days",
        "at": "02:00",
        "window": {"start": "22:00", "end": "06:00"},
        "timezone": "America/Guayaquil",
    }
    job = inventory.job(session, "documents", category="documents", schedule=document)
    session.commit()
    schedule = schedule_from_dict(job.schedule)
    assert schedule.window == Window(time(22, 0), time(6, 0))
    assert schedule.timezone == "America/Guayaquil"
    assert job.schedule["start"] == NOW.date().isoformat()


def test_a_monthly_schedule_on_several_days_is_stored_in_full(session: Session, inventory: Inventory) -> None:
    document = {"kind": "monthly", "days": [15, 1], "at": "01:00"}
    job = inventory.job(session, "ledger", schedule=document)
    session.commit()
    session.expire_all()
    assert job.schedule == {
        "kind": "monthly",
        "days": [1, 15],
        "at": "01:00",
        "timezone": "UTC",
        "window": None,
    }
    assert schedule_from_dict(job.schedule).rule == MonthlyRule((1, 15))


def test_an_edited_interval_counts_from_the_day_of_the_edit(session: Session, inventory: Inventory) -> None:
    job = inventory.job(session, "configs", category="server-configuration")
    later = datetime(2026, 5, 9, 23, 30, tzinfo=NOW.tzinfo)
    changes = {"schedule": {"kind": "interval", "every": 30, "unit": "days", "timezone": "America/Bogota"}}
    update_job(session, job.id, changes, now=later)
    assert job.schedule["start"] == "2026-05-09"  # 18:30 in Bogota
    assert schedule_from_dict(job.schedule).rule.start == date(2026, 5, 9)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"kind": "hourly"}, "kind"),
        ({"kind": "interval", "every": 0, "unit": "days"}, "every"),
        ({"kind": "interval", "every": 2, "unit": "days", "at": "25:00"}, "at"),
        ({"kind": "weekly", "weekdays": ["funday"], "at": "01:00"}, "weekdays"),
        ({"kind": "monthly", "days": [32], "at": "01:00"}, "days"),
        ({"kind": "weekly", "weekdays": ["sun"]}, "at"),
        ({"kind": "daily", "at": "01:00", "colour": "red"}, "colour"),
        ({"kind": "daily", "at": "01:00", "timezone": "Mars/Base"}, "timezone"),
        ({"kind": "daily", "at": "01:00", "window": {"start": "22:00", "end": "22:00"}}, "window.end"),
        ({"kind": "interval", "every_days": 60, "at": "02:00"}, "every_days"),
    ],
)
def test_impossible_schedules_are_refused_naming_the_field(
    session: Session, inventory: Inventory, document: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        inventory.job(session, "bad", schedule=document)
    assert isinstance(caught.value, ConfigurationError)
    assert caught.value.field == field


def test_records_are_kept_at_least_a_year(session: Session, inventory: Inventory) -> None:
    with pytest.raises(UsageError, match="at least 365 days, not 30"):
        inventory.job(session, "short", records_keep_days=30)
    job = inventory.job(session, "long", records_keep_days=3 * 365)
    with pytest.raises(UsageError, match="at least 365 days"):
        update_job(session, job.id, {"records_keep_days": 364}, now=NOW)


def test_a_retention_that_keeps_nothing_is_refused(session: Session, inventory: Inventory) -> None:
    with pytest.raises(ConfigurationError, match="no rule keeps anything"):
        inventory.job(session, "none", retention={"keep_daily": 0})
    with pytest.raises(ConfigurationError, match="unknown rule"):
        inventory.job(session, "typo", retention={"keep_dialy": 7})


def test_jobs_are_listed_with_filters_and_names_stay_unique(session: Session, inventory: Inventory) -> None:
    inventory.job(session, "db-nightly", category="databases")
    inventory.job(session, "code-weekly", category="source-code", paused=True)
    session.commit()
    assert [job.name for job in list_jobs(session, paused=True).items] == ["code-weekly"]
    databases = find_category(session, "databases")
    assert [job.name for job in list_jobs(session, category_id=databases.id).items] == ["db-nightly"]
    with pytest.raises(Conflict, match="a job named 'db-nightly' exists already"):
        inventory.job(session, "db-nightly")
    with pytest.raises(NotFound, match="no client has the ID 999"):
        update_job(session, list_jobs(session).items[0].id, {"client_id": 999}, now=NOW)


def test_category_defaults_are_editable(session: Session) -> None:
    category = find_category(session, "web-publishing")
    update_category(session, category.id, {"default_schedule": {"kind": "daily", "at": "05:00"}}, now=NOW)
    session.commit()
    assert find_category(session, "web-publishing").default_schedule["kind"] == "daily"
    with pytest.raises(InvalidSchedule):
        update_category(session, category.id, {"default_schedule": {"kind": "daily"}}, now=NOW)
