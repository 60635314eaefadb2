"""Fixtures of the notification tests: the catalog (SQLite and PostgreSQL), a small service with a
worker and a fake clock, people to notify, and a real SMTP server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from resguardo.catalog import SecretKey, session_factory
from tests.catalog.conftest import catalog_url, engine, postgres_template, secret_key, sqlite_template
from tests.fixtures.service import Service
from tests.fixtures.smtp import smtp_server

__all__ = ["catalog_url", "engine", "postgres_template", "secret_key", "smtp_server", "sqlite_template"]


@pytest.fixture
def service(engine: Engine, secret_key: SecretKey, tmp_path: Path) -> Service:
    """Return a service on a fresh catalog (SQLite, then PostgreSQL) with a local client."""
    return Service(session_factory(engine), secret_key, tmp_path)
