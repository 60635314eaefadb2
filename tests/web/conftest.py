"""Fixtures of the console tests: the console and API in-process over a fresh catalog (SQLite and
PostgreSQL), users with passwords, and a browser-like client that logs in through the login form."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session, sessionmaker

from resguardo.api import ApiSettings
from resguardo.catalog import SecretKey, create_catalog_engine, session_factory
from resguardo.catalog.enums import Language, Role
from resguardo.catalog.queries import create_user
from resguardo.clock import FakeClock
from resguardo.web import create_console_app
from tests.api.conftest import FAST_HASH, NOW, PASSWORD
from tests.catalog.conftest import catalog_url, postgres_template, sqlite_template

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

__all__ = ["catalog_url", "postgres_template", "sqlite_template"]

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Console:
    """The application under test, its catalog, and helpers to make users and log them in."""

    app: object
    sessions: sessionmaker[Session]
    clock: FakeClock
    secret_key: SecretKey

    def user(self, username: str, roles: list[Role], language: Language = Language.SPANISH) -> int:
        """Add a user with ``roles``, the test password and ``language``; return their ID."""
        with self.sessions() as session:
            user = create_user(
                session,
                username=username,
                roles=roles,
                language=language,
                now=NOW,
                password=PASSWORD,
                password_parameters=FAST_HASH,
            )
            session.commit()
            return user.id

    def browser(self, username: str | None = None) -> TestClient:
        """Return a client with its own cookies, logged in as ``username`` through the form if given."""
        client = TestClient(self.app, follow_redirects=False)  # type: ignore[arg-type]
        if username is not None:
            answer = client.post("/login", data={"username": username, "password": PASSWORD, "next": "/"})
            assert answer.status_code == 303, answer.text
        return client


def csrf_of(html: str) -> str:
    """Return the CSRF token of the first form of a page."""
    found = CSRF_INPUT.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@pytest.fixture
def console(catalog_url: str) -> Iterator[Console]:
    """Return the console over a fresh catalog, with a fake clock and cookies over plain HTTP."""
    clock = FakeClock(NOW)
    key = SecretKey.generate()
    settings = ApiSettings(database_url=catalog_url, secret_key=key, clock=clock, cookie_secure=False)
    engine = create_catalog_engine(catalog_url)
    app = create_console_app(settings)
    with TestClient(app):
        yield Console(app, session_factory(engine), clock, key)
    engine.dispose()
