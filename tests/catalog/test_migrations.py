"""The shipped migrations build exactly the schema of the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from resguardo.catalog import upgrade
from resguardo.catalog.enums import RunTrigger
from resguardo.catalog.migrate import alembic_config, current_revision, head_revision
from resguardo.catalog.models import Base, Category
from resguardo.catalog.queries import enqueue_run
from resguardo.schedules import (
    DailyRule,
    IntervalRule,
    WeeklyRule,
    checked_schedule_document,
    schedule_from_dict,
)
from tests.catalog.conftest import NOW, Inventory


def test_migrations_build_exactly_the_schema_of_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_migrated_catalog_is_at_the_newest_revision_and_upgrading_again_changes_nothing(
    engine: Engine, catalog_url: str
) -> None:
    assert current_revision(engine) == head_revision()
    assert upgrade(catalog_url) == head_revision()


def test_first_migration_seeds_the_categories_with_their_default_periodicity(session: Session) -> None:
    categories = {category.name: category for category in session.scalars(select(Category))}
    assert set(categories) == {
        "databases",
        "source-code",
        "server-configuration",
        "images",
        "documents",
        "web-publishing",
    }
    schedules = {name: category.default_schedule for name, category in categories.items()}
    for document in schedules.values():  # in the one schedule form, as written out by the checks
        assert checked_schedule_document(document) == document
    assert schedule_from_dict(schedules["databases"]).rule == DailyRule()
    assert schedule_from_dict(schedules["source-code"]).rule == WeeklyRule((6,))
    for name in ("server-configuration", "images", "documents"):
        assert "start" not in schedules[name]  # each job counts from its own creation
        rule = schedule_from_dict(schedules[name], default_start=date(2026, 1, 1)).rule
        assert isinstance(rule, IntervalRule) and (rule.every, rule.unit) == (60, "days")
    assert categories["source-code"].register == "FOR 7.5 DSE 02"
    assert categories["databases"].register == "DSE 03"


def test_schema_comparison_sees_an_index_the_database_lacks(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_runs_claim")
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [difference[0] for difference in differences] == ["add_index"]


def test_a_catalog_with_jobs_and_runs_downgrades_to_the_first_revision_and_back(
    engine: Engine, session: Session, inventory: Inventory, catalog_url: str
) -> None:
    job = inventory.job(session, "nightly")
    enqueue_run(session, job.id, trigger=RunTrigger.MANUAL, now=NOW)
    session.commit()
    session.close()
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    assert current_revision(engine) == "0001"
    assert upgrade(catalog_url) == head_revision()
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM runs").scalar() == 1
