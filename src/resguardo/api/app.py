"""The application factory: :func:`create_app` wires settings, catalog, routes and error handling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from resguardo.api.context import ApiContext
from resguardo.api.errors import install_error_handlers
from resguardo.api.ratelimit import LoginLimiter
from resguardo.api.routes import (
    audit,
    client_tests,
    dashboard,
    departments,
    inventory,
    notifications,
    operations,
    people,
    plans,
    restores,
    runs,
    session,
    verifications,
)
from resguardo.api.settings import ApiSettings
from resguardo.catalog import create_catalog_engine, session_factory

API_VERSION = "1"
ROUTE_MODULES = (
    operations,
    session,
    inventory,
    client_tests,
    plans,
    runs,
    restores,
    people,
    departments,
    audit,
    dashboard,
    verifications,
    notifications,
)
"""The modules whose ``router`` the application includes, in order."""


def api_routes() -> list[APIRoute]:
    """Return every endpoint of the API (from its routers: the application keeps included routers whole).

    The role-matrix and OpenAPI tests walk this list; it never comes back empty.
    """
    return [
        route for module in ROUTE_MODULES for route in module.router.routes if isinstance(route, APIRoute)
    ]


def create_app(settings: ApiSettings) -> FastAPI:
    """Return the API application over the catalog ``settings`` names.

    The catalog must be migrated already (``resguardo db upgrade``). The engine is disposed of when
    the application shuts down.

    Raises:
        ConfigurationError: the database URL is malformed or names an unsupported database.
        SecretKeyError: the secret key is malformed.
    """
    engine = create_catalog_engine(settings.database_url)
    context = ApiContext(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        secret_key=settings.resolved_secret_key(),
        login_limiter=LoginLimiter(settings.login_failures_allowed, settings.login_failure_window),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(
        title="Resguardo",
        version=API_VERSION,
        description="The REST API of the Resguardo backup service. See docs/api.md.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.context = context
    install_error_handlers(app)
    for module in ROUTE_MODULES:
        app.include_router(module.router)
    return app
