"""Fixtures of the API tests: the application in-process over a fresh catalog, on SQLite and PostgreSQL.

The catalog fixtures (``catalog_url`` parametrized over both databases) come from tests/catalog.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from resguardo.api import ApiSettings, create_app
from resguardo.catalog import SecretKey, create_catalog_engine, session_factory
from resguardo.catalog.enums import Role
from resguardo.catalog.passwords import PasswordParameters
from resguardo.catalog.queries import create_api_token, create_user
from resguardo.clock import FakeClock
from tests.catalog.conftest import catalog_url, postgres_template, sqlite_template

with warnings.catch_warnings():
    # Starlette's test client now prefers another HTTP package, not in the lock; httpx works the same.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

__all__ = ["catalog_url", "postgres_template", "sqlite_template"]

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"
FAST_HASH = PasswordParameters(memory_kib=1024, iterations=1, lanes=1)


@dataclass
class Api:
    """The application under test, its catalog, and helpers to make users with tokens."""

    client: TestClient
    sessions: object
    clock: FakeClock
    secret_key: SecretKey

    def session(self) -> Session:
        """Return a new catalog session (close it after use)."""
        return self.sessions()  # type: ignore[operator,no-any-return]

    def user(self, username: str, roles: list[Role], *, password: str | None = None) -> tuple[int, str]:
        """Add a user with ``roles`` (and a password) and an API token; return the user's ID and the token."""
        with self.session() as session:
            user = create_user(
                session,
                username=username,
                roles=roles,
                now=NOW,
                password=password,
                password_parameters=FAST_HASH,
            )
            _record, token = create_api_token(session, user.id, name="tests", now=NOW)
            session.commit()
            return user.id, token

    def headers(self, token: str) -> dict[str, str]:
        """Return the headers authenticating with ``token``."""
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(catalog_url: str) -> Iterator[Api]:
    """Return the API over a fresh catalog, with a fake clock and cookies allowed over plain HTTP."""
    clock = FakeClock(NOW)
    key = SecretKey.generate()
    settings = ApiSettings(database_url=catalog_url, secret_key=key, clock=clock, cookie_secure=False)
    engine = create_catalog_engine(catalog_url)
    with TestClient(create_app(settings)) as client:
        yield Api(client, session_factory(engine), clock, key)
    engine.dispose()


@pytest.fixture
def admin(api: Api) -> dict[str, str]:
    """Return the headers of an administrator's token."""
    _user_id, token = api.user("admin", [Role.ADMINISTRATOR])
    return api.headers(token)
