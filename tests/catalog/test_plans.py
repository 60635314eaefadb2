"""Jobs take their category's defaults, keep records a year at least, and take only valid schedules."""

from __future__ import annotations

from datetime import time

import pytest
from sqlalchemy.orm import Session

from resguardo.catalog.queries import find_category, list_jobs, update_category, update_job
from resguardo.catalog.schedules import Window, parse_schedule
from resguardo.core.errors import ConfigurationError, Conflict, NotFound, UsageError
from tests.catalog.conftest import NOW, Inventory


def test_a_new_job_takes_the_schedule_and_retention_of_its_category(
    session: Session, inventory: Inventory
) -> None:
    job = inventory.job(session, "configs", category="server-configuration")
    session.commit()
    schedule = parse_schedule(job.schedule)
    assert (schedule.kind, schedule.every_days, schedule.at) == ("interval", 60, time(2, 0))
    assert job.retention == find_category(session, "server-configuration").default_retention
    assert job.records_keep_days == 365


def test_every_60_days_at_0200_inside_a_night_window_is_a_valid_schedule(
    session: Session, inventory: Inventory
) -> None:
    document = {
        "kind": "interval",
        "every_days": 60,
        "at": "02:00",
        "window": {"start": "22:00", "end": "06:00"},
        "timezone": "America/Guayaquil",
    }
    job = inventory.job(session, "documents", category="documents", schedule=document)
    session.commit()
    schedule = parse_schedule(job.schedule)
    assert schedule.window == Window(time(22, 0), time(6, 0))
    assert schedule.timezone == "America/Guayaquil"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"kind": "hourly"}, "'kind' must be one of"),
        ({"kind": "interval", "every_days": 0}, "either every_days or every_minutes"),
        ({"kind": "interval", "every_days": 2, "at": "25:00"}, "at must be a time written HH:MM"),
        ({"kind": "weekly", "weekdays": ["sunday"], "at": "01:00"}, "weekdays must be"),
        ({"kind": "monthly", "month_days": [32], "at": "01:00"}, "month_days must be"),
        ({"kind": "weekly", "weekdays": ["sun"]}, "needs 'at'"),
        ({"kind": "interval", "every_days": 1, "colour": "red"}, "unknown field.*colour"),
        ({"kind": "interval", "every_days": 1, "timezone": "Mars/Base"}, "unknown timezone"),
    ],
)
def test_impossible_schedules_are_refused_naming_the_field(
    session: Session, inventory: Inventory, document: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        inventory.job(session, "bad", schedule=document)


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
    update_category(
        session, category.id, {"default_schedule": {"kind": "interval", "every_days": 1}}, now=NOW
    )
    session.commit()
    assert parse_schedule(find_category(session, "web-publishing").default_schedule).every_days == 1
