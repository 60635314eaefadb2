"""What every request of one application shares: settings, the catalog's engine and sessions, keys."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from resguardo.api.ratelimit import LoginLimiter
from resguardo.api.settings import ApiSettings
from resguardo.catalog import SecretKey


@dataclass
class ApiContext:
    """The state of one API application (kept in ``app.state.context``)."""

    settings: ApiSettings
    engine: Engine
    sessions: sessionmaker[Session]
    secret_key: SecretKey
    login_limiter: LoginLimiter

    def now(self) -> datetime:
        """Return the current time from the settings' clock."""
        return self.settings.clock.now()


def context_of(request: Request) -> ApiContext:
    """Return the context of the application serving ``request``."""
    context: ApiContext = request.app.state.context
    return context


def catalog_session(request: Request) -> Iterator[Session]:
    """Yield a catalog session for one request, closed (rolled back if not committed) at its end."""
    with context_of(request).sessions() as session:
        yield session
