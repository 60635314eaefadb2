"""Where the catalog lives, and how to connect to it: engines, SQLite settings, sessions.

The default catalog is an SQLite file, ``catalog.sqlite3`` in the data directory; setting
``RESGUARDO_DATABASE_URL`` (e.g. ``postgresql+psycopg://resguardo@db.example/resguardo``) points every
process at a PostgreSQL database instead, which several workers on several hosts can share.

SQLite connections are set up for a service with several processes: write-ahead logging (readers
never wait for the writer), foreign keys enforced, and a busy timeout, so that a writer waits for
another rather than failing at once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from resguardo.core.errors import ConfigurationError

DATABASE_URL_ENV = "RESGUARDO_DATABASE_URL"
DATA_DIR_ENV = "RESGUARDO_DATA_DIR"
DATABASE_FILE_NAME = "catalog.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def default_data_dir() -> Path:
    """Return the data directory: ``RESGUARDO_DATA_DIR``, else ``$XDG_DATA_HOME/resguardo``, else
    ``~/.local/share/resguardo``."""
    explicit = os.environ.get(DATA_DIR_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "resguardo"


def database_url(url: str | None = None, data_dir: Path | None = None) -> str:
    """Return the catalog's URL: ``url`` if given, else ``RESGUARDO_DATABASE_URL``, else the SQLite file
    in ``data_dir`` (default :func:`default_data_dir`)."""
    if url:
        return url
    from_environment = os.environ.get(DATABASE_URL_ENV)
    if from_environment:
        return from_environment
    folder = data_dir if data_dir is not None else default_data_dir()
    return f"sqlite:///{folder / DATABASE_FILE_NAME}"


def _set_sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """Turn on foreign keys, the busy timeout and (for files) write-ahead logging on a new connection."""
    del connection_record
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def create_catalog_engine(
    url: str | None = None, *, data_dir: Path | None = None, echo: bool = False
) -> Engine:
    """Return an engine for the catalog at ``url`` (see :func:`database_url` for the default).

    For an SQLite file, its folder is created when missing, and every connection gets the settings
    described in the module's docstring.

    Raises:
        ConfigurationError: the URL cannot be parsed, or names a database Resguardo does not support.
    """
    text = database_url(url, data_dir)
    try:
        parsed = make_url(text)
    except ArgumentError:
        raise ConfigurationError(
            "the catalog's database URL cannot be parsed",
            "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DATABASE",
        ) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigurationError(
            f"the catalog runs on SQLite or PostgreSQL, not {backend}",
            "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DATABASE",
        )
    if backend == "postgresql" and parsed.get_driver_name() != "psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"echo": echo}
    if backend == "postgresql":
        options["pool_pre_ping"] = True
    engine = create_engine(parsed, **options)
    if backend == "sqlite":
        event.listen(engine, "connect", _set_sqlite_pragmas)
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return a factory of sessions bound to ``engine``; objects stay readable after a commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)
