"""Revision 0003 moves stored schedules to the one form, on SQLite and PostgreSQL, and back where it can.

Each test starts from a catalog at revision 0002 holding jobs in the first schedule form (written with
plain SQL: the models describe the newest schema, not 0002's).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine

from resguardo.catalog import create_catalog_engine, upgrade
from resguardo.catalog.migrate import alembic_config, current_revision
from resguardo.schedules import checked_schedule_document, schedule_from_dict
from tests.catalog.conftest import BACKENDS
from tests.fixtures.postgres import PostgresCluster

CREATED = datetime(2025, 3, 2, 3, 0, tzinfo=UTC)  # 1 March, 22:00 in Bogota
EDITED = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)
WINDOW = {"start": "22:00", "end": "06:00"}
FIRST_FORM_JOBS: dict[str, tuple[dict[str, Any], datetime | None]] = {
    "nightly": ({"kind": "interval", "every_days": 1, "at": "01:00"}, None),
    "sixty": (
        {"kind": "interval", "every_days": 60, "at": "02:00", "timezone": "America/Bogota", "window": WINDOW},
        None,
    ),
    "edited": ({"kind": "interval", "every_days": 7}, EDITED),
    "often": ({"kind": "interval", "every_minutes": 90}, None),
    "weekly": ({"kind": "weekly", "weekdays": ["sun", "wed"], "at": "03:00"}, None),
    "twice-monthly": ({"kind": "monthly", "month_days": [15, 1], "at": "01:00"}, None),
}
NEW_FORM_JOBS = {
    "nightly": {"kind": "daily", "at": "01:00", "timezone": "UTC", "window": None},
    "sixty": {
        "kind": "interval",
        "every": 60,
        "unit": "days",
        "start": "2025-03-01",
        "at": "02:00",
        "timezone": "America/Bogota",
        "window": WINDOW,
    },
    "edited": {
        "kind": "interval",
        "every": 7,
        "unit": "days",
        "start": "2025-06-10",
        "at": "00:00",
        "timezone": "UTC",
        "window": None,
    },
    "often": {
        "kind": "interval",
        "every": 90,
        "unit": "minutes",
        "start": "2025-03-02",
        "at": "00:00",
        "timezone": "UTC",
        "window": None,
    },
    "weekly": {
        "kind": "weekly",
        "weekdays": ["wednesday", "sunday"],
        "at": "03:00",
        "timezone": "UTC",
        "window": None,
    },
    "twice-monthly": {"kind": "monthly", "days": [1, 15], "at": "01:00", "timezone": "UTC", "window": None},
}


@pytest.fixture(params=BACKENDS)
def old_catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """Return an engine of a fresh catalog at revision 0002 with jobs in the first schedule form."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
        cleanup = None
    else:
        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        name = cluster.create_database()
        url, cleanup = cluster.url(name), lambda: cluster.drop_database(name)
    upgrade(url, "0002")
    engine = create_catalog_engine(url)
    _add_first_form_jobs(engine)
    yield engine
    engine.dispose()
    if cleanup is not None:
        cleanup()


def _add_first_form_jobs(engine: Engine) -> None:
    """Insert a client, a repository and the jobs of FIRST_FORM_JOBS, as revision 0002 stores them."""
    naive = engine.dialect.name == "sqlite"  # the catalog keeps naive UTC times there

    def stored(instant: datetime | None) -> datetime | None:
        return instant.replace(tzinfo=None) if naive and instant is not None else instant

    stamps = {"created_at": stored(CREATED), "updated_at": stored(CREATED)}
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO clients (id, name, address, port, ssh_user, transport, notes, created_at, "
                "updated_at) VALUES (1, 'db1', 'db1.example', 22, 'backup', 'ssh', '', :created_at, "
                ":updated_at)"
            ),
            stamps,
        )
        connection.execute(
            sa.text(
                "INSERT INTO repositories (id, name, url, options, notes, created_at, updated_at) "
                "VALUES (1, 'main', '/srv/backups/main', '{}', '', :created_at, :updated_at)"
            ),
            stamps,
        )
        for number, (name, (schedule, since)) in enumerate(FIRST_FORM_JOBS.items(), start=1):
            connection.execute(
                sa.text(
                    "INSERT INTO jobs (id, name, description, source, client_id, repository_id, "
                    "category_id, schedule, retention, records_keep_days, paused, max_retries, "
                    "retry_backoff_seconds, created_at, updated_at, schedule_since, plan_version) VALUES "
                    "(:id, :name, '', '{}', 1, 1, 1, :schedule, :retention, 365, false, 3, 300, "
                    ":created_at, :updated_at, :since, 0)"
                ),
                {
                    "id": number,
                    "name": name,
                    "schedule": json.dumps(schedule),
                    "retention": '{"keep_last":6}',
                    "since": stored(since),
                    **stamps,
                },
            )


def _schedules(engine: Engine, table: str, column: str) -> dict[str, Any]:
    """Return each row's name and stored schedule document."""
    with engine.connect() as connection:
        rows = connection.execute(sa.text(f"SELECT name, {column} FROM {table}"))
        return {name: json.loads(text) for name, text in rows}


def _downgrade(engine: Engine, revision: str) -> None:
    """Run the migrations down to ``revision`` on the database of ``engine``."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def _upgrade(engine: Engine, revision: str) -> None:
    """Run the migrations up to ``revision`` on the database of ``engine``."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_upgrade_writes_job_schedules_in_the_one_form_anchored_where_they_counted_from(
    old_catalog: Engine,
) -> None:
    _upgrade(old_catalog, "0003")
    jobs = _schedules(old_catalog, "jobs", "schedule")
    assert jobs == NEW_FORM_JOBS
    for document in jobs.values():
        schedule_from_dict(document)  # the scheduler reads every one of them


def test_upgrade_writes_category_defaults_in_the_one_form_without_a_start(old_catalog: Engine) -> None:
    _upgrade(old_catalog, "0003")
    categories = _schedules(old_catalog, "categories", "default_schedule")
    assert categories["databases"] == {"kind": "daily", "at": "01:00", "timezone": "UTC", "window": None}
    assert categories["source-code"]["weekdays"] == ["sunday"]
    for name in ("server-configuration", "images", "documents"):
        assert (categories[name]["every"], categories[name]["unit"]) == (60, "days")
        assert "start" not in categories[name]
    for document in categories.values():
        assert checked_schedule_document(document) == document


def test_upgrading_twice_changes_nothing_more(old_catalog: Engine) -> None:
    _upgrade(old_catalog, "0003")
    converted = _schedules(old_catalog, "jobs", "schedule")
    _downgrade(old_catalog, "0002")
    _upgrade(old_catalog, "0003")
    assert _schedules(old_catalog, "jobs", "schedule") == converted


def test_downgrade_writes_the_first_form_back(old_catalog: Engine) -> None:
    _upgrade(old_catalog, "0003")
    _downgrade(old_catalog, "0002")
    jobs = _schedules(old_catalog, "jobs", "schedule")
    assert jobs["nightly"] == {"kind": "interval", "every_days": 1, "at": "01:00", "timezone": "UTC"}
    assert jobs["sixty"] == {**FIRST_FORM_JOBS["sixty"][0]}
    assert jobs["often"] == {"kind": "interval", "every_minutes": 90, "timezone": "UTC"}
    assert jobs["weekly"]["weekdays"] == ["wed", "sun"]
    assert jobs["twice-monthly"]["month_days"] == [1, 15]
    categories = _schedules(old_catalog, "categories", "default_schedule")
    assert categories["databases"] == {"kind": "interval", "every_days": 1, "at": "01:00", "timezone": "UTC"}


def test_downgrade_refuses_a_schedule_the_first_form_cannot_say_and_changes_nothing(
    old_catalog: Engine,
) -> None:
    _upgrade(old_catalog, "head")
    _downgrade(old_catalog, "0003")
    last_day = {"kind": "monthly", "days": [1, "last"], "at": "01:00", "timezone": "UTC", "window": None}
    with old_catalog.begin() as connection:
        connection.execute(
            sa.text("UPDATE jobs SET schedule = :schedule WHERE name = 'twice-monthly'"),
            {"schedule": json.dumps(last_day)},
        )
    with pytest.raises(RuntimeError, match="job 'twice-monthly': the first form has no 'last day"):
        _downgrade(old_catalog, "0002")
    assert current_revision(old_catalog) == "0003"
    jobs = _schedules(old_catalog, "jobs", "schedule")
    assert jobs["twice-monthly"] == last_day
    assert jobs["nightly"] == NEW_FORM_JOBS["nightly"]
