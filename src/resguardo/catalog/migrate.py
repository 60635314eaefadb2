"""Bring the catalog's schema up to date with the migrations shipped in this package (Alembic).

The revisions live in ``resguardo/catalog/migrations/versions``; each is written by hand and reviewed,
never generated when the service starts. :func:`upgrade` is what ``resguardo db upgrade`` and the
service's first start run.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from resguardo.catalog.database import create_catalog_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """Return an Alembic configuration pointing at the package's migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """Return the newest revision the package ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("the package ships no catalog migration")
    return head


def upgrade_engine(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to ``revision`` to the database of ``engine``."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def upgrade(url: str | None = None, revision: str = "head") -> str | None:
    """Apply every migration up to ``revision`` to the catalog at ``url`` (default: see
    :func:`~resguardo.catalog.database.database_url`); return the revision it is at afterwards.

    Raises:
        ConfigurationError: the URL is not a supported database.
        sqlalchemy.exc.OperationalError: the database cannot be reached.
    """
    engine = create_catalog_engine(url)
    try:
        upgrade_engine(engine, revision)
        return current_revision(engine)
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """Return the revision the database of ``engine`` is at, or None for a database never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
