"""The application of ``resguardo serve``: the REST API under ``/api/v1`` and the console under ``/``.

Errors on console pages answer HTML (the login page when the session has ended, a page saying what
is wrong otherwise); errors under ``/api`` keep the API's JSON shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from resguardo.api import ApiSettings, create_app
from resguardo.core.errors import NotFound, ResguardoError
from resguardo.web.pages import LoginRequired, PageForbidden, login_redirect, render
from resguardo.web.routes import ROUTERS

STATIC = Path(__file__).parent / "static"
API_PREFIXES = ("/api/", "/healthz", "/metrics", "/openapi.json", "/static/")


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIXES)


def _console_handlers(app: FastAPI) -> None:
    """Make errors of console pages answer HTML, keeping the API's JSON handlers for the API."""
    api_handlers = dict(app.exception_handlers)

    def delegate(kind: Any, status: int) -> Any:
        async def handle(request: Request, error: Exception) -> Response:
            if _is_api(request):
                return await api_handlers[kind](request, error)  # type: ignore[no-any-return]
            code = getattr(error, "status_code", status)
            if isinstance(error, ResguardoError):
                code = 404 if isinstance(error, NotFound) else 409
            return render(request, "error.html", {"status": code}, status=code)

        return handle

    async def login_required(request: Request, error: Exception) -> Response:
        return login_redirect(request)

    async def forbidden(request: Request, error: Exception) -> Response:
        assert isinstance(error, PageForbidden)
        return render(
            request, "error.html", {"status": 403, "permission": error.permission}, error.principal, 403
        )

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(PageForbidden, forbidden)
    app.add_exception_handler(StarletteHTTPException, delegate(StarletteHTTPException, 404))
    app.add_exception_handler(RequestValidationError, delegate(RequestValidationError, 422))
    app.add_exception_handler(ResguardoError, delegate(ResguardoError, 409))


def create_console_app(settings: ApiSettings) -> FastAPI:
    """Return the API application of ``settings`` with the console's pages and static files added.

    Raises:
        ConfigurationError: the database URL is malformed or names an unsupported database.
        SecretKeyError: the secret key is malformed.
    """
    app = create_app(settings)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        app.include_router(router)
    _console_handlers(app)
    return app
