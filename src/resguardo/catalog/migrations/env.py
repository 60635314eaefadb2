"""Alembic's environment for the catalog: runs migrations on the connection the caller hands over.

:func:`resguardo.catalog.migrate.upgrade` puts an open connection in ``config.attributes
["connection"]``; ``alembic -x url=...`` from a developer's shell works too. SQLite migrations run in
batch mode, so that later revisions can alter tables SQLite cannot alter in place.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from resguardo.catalog.database import create_catalog_engine
from resguardo.catalog.models import Base

config = context.config
target_metadata = Base.metadata


def _run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the given connection, or on one to the URL given with ``-x url=``."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    engine = create_catalog_engine(url)
    try:
        with engine.connect() as new_connection:
            _run_on(new_connection)
            new_connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("the catalog's migrations run online only: give a database URL")
run_migrations_online()
