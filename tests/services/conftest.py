"""Fixtures of the services tests: the catalog's (SQLite and PostgreSQL) and a small service on top."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from resguardo.catalog import SecretKey, session_factory
from tests.catalog.conftest import catalog_url, engine, postgres_template, secret_key, sqlite_template
from tests.fixtures.service import Service

__all__ = ["catalog_url", "engine", "postgres_template", "secret_key", "sqlite_template"]


@pytest.fixture
def service(engine: Engine, secret_key: SecretKey, tmp_path: Path) -> Service:
    """Return a service on a fresh catalog (SQLite, then PostgreSQL) with a local client."""
    return Service(session_factory(engine), secret_key, tmp_path)


@pytest.fixture
def no_own_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Leave the worker without SSH credentials of its own: an empty home, no agent, no key variables."""
    home = tmp_path_factory.mktemp("empty-home")
    monkeypatch.setenv("HOME", str(home))
    for name in ("SSH_AUTH_SOCK", "RESGUARDO_SFTP_KEY", "RESGUARDO_SFTP_KNOWN_HOSTS"):
        monkeypatch.delenv(name, raising=False)
