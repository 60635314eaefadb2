"""Fixtures of the catalog tests: every test that touches the database runs on SQLite and PostgreSQL.

``catalog_url`` is parametrized over both: a fresh SQLite file, or a fresh database in the session's
PostgreSQL cluster (tests/fixtures/postgres.py), each already migrated to the newest revision (copied
from a template migrated once per session, so that a test costs a file copy or a CREATE DATABASE).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from resguardo.catalog import SecretKey, create_catalog_engine, session_factory, upgrade
from resguardo.catalog.enums import Transport
from resguardo.catalog.models import Client, Job, Repository
from resguardo.catalog.queries import create_client, create_job, create_repository, find_category
from tests.fixtures.postgres import PostgresCluster

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return an SQLite catalog file migrated to the newest revision, to copy for each test."""
    path = tmp_path_factory.mktemp("catalog-template") / "catalog.sqlite3"
    upgrade(f"sqlite:///{path}")
    engine = create_catalog_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_cluster: PostgresCluster) -> str:
    """Return the name of a PostgreSQL database migrated to the newest revision, to copy for each test."""
    name = postgres_cluster.create_database()
    upgrade(postgres_cluster.url(name))
    return name


@pytest.fixture(params=BACKENDS)
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Return the URL of a fresh, migrated catalog: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "catalog.sqlite3"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    name = cluster.create_database(template=request.getfixturevalue("postgres_template"))
    yield cluster.url(name)
    cluster.drop_database(name)


@pytest.fixture
def engine(catalog_url: str) -> Iterator[Engine]:
    """Return an engine of the test's catalog, disposed of at the end."""
    engine = create_catalog_engine(catalog_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """Return a session of the test's catalog, closed at the end."""
    with session_factory(engine)() as session:
        yield session


@pytest.fixture
def secret_key() -> SecretKey:
    """Return a fresh secret key for sealing repository secrets."""
    return SecretKey.generate()


@dataclass
class Inventory:
    """A client and a repository to hang jobs on."""

    client: Client
    repository: Repository

    def job(self, session: Session, name: str, *, category: str = "databases", **options: object) -> Job:
        """Add a job of ``category`` on this client and repository; return it."""
        return create_job(
            session,
            name=name,
            client_id=self.client.id,
            repository_id=self.repository.id,
            category_id=find_category(session, category).id,
            now=NOW,
            **options,  # type: ignore[arg-type]
        )


@pytest.fixture
def inventory(session: Session, secret_key: SecretKey) -> Inventory:
    """Return a client and a repository, committed."""
    client = create_client(session, name="db1", address="db1.example", transport=Transport.SSH, now=NOW)
    repository = create_repository(session, secret_key, name="main", url="/srv/backups/main", now=NOW)
    session.commit()
    return Inventory(client, repository)
