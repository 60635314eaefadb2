"""One error shape for every answer that is not a success::

    {"error": {"code": "not_found", "message": "no client has the ID 7", "details": {...}}}

Catalog errors map to statuses (NotFound 404, Conflict 409, UsageError and ConfigurationError 422),
request validation errors to 422 with every field named, and anything unexpected to a 500 that says
nothing of its cause (the cause goes to the server's log). Values sent by the client are never echoed
back in ``details``: they may be passwords or passphrases.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from resguardo.core.errors import ConfigurationError, Conflict, NotFound, ResguardoError, UsageError

LOGGER = logging.getLogger("resguardo.api")

STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """An error the API answers with, in the one error shape.

    Args:
        status: the HTTP status.
        message: one line saying what is wrong and what to do.
        details: more, JSON-ready (e.g. ``{"field": "name"}``); never a secret.
        headers: extra response headers (e.g. ``Retry-After``).
    """

    def __init__(
        self,
        status: int,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or {}
        self.headers = headers


def error_response(
    status: int, message: str, details: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """Return a JSON response in the error shape."""
    body = {
        "error": {"code": STATUS_CODES.get(status, "error"), "message": message, "details": details or {}}
    }
    return JSONResponse(body, status_code=status, headers=headers)


class FieldError(ValueError):
    """A value that failed a catalog check, naming the part of it at fault (e.g. ``at`` of a schedule).

    Args:
        message: what is wrong.
        part: the field inside the checked value, appended to its location in the 422 answer; None when
            the value as a whole is at fault.
    """

    def __init__(self, message: str, part: str | None = None) -> None:
        super().__init__(message)
        self.part = part


def _field_of(location: tuple[Any, ...]) -> str:
    """Return a dotted field name from a validation error's location, without the "body"/"query" part."""
    parts = [str(part) for part in location]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _validation_details(error: RequestValidationError) -> list[dict[str, str]]:
    """Return one ``{"field", "message"}`` per problem; the offending values are left out."""
    problems = []
    for item in error.errors():
        location = tuple(item.get("loc", ()))
        part = getattr((item.get("ctx") or {}).get("error"), "part", None)
        if part:
            location = (*location, part)
        problems.append({"field": _field_of(location), "message": str(item.get("msg", "invalid"))})
    return problems


async def _on_validation(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = _validation_details(error)
    fields = ", ".join(sorted({problem["field"] for problem in problems}))
    return error_response(422, f"the request is not valid: check {fields}", {"errors": problems})


async def _on_api_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return error_response(error.status, error.message, error.details, error.headers)


async def _on_http(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    return error_response(error.status_code, str(error.detail), None, getattr(error, "headers", None))


def status_of(error: ResguardoError) -> int:
    """Return the HTTP status of a Resguardo error."""
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Conflict):
        return 409
    if isinstance(error, UsageError | ConfigurationError):
        return 422
    return 500


async def _on_resguardo(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ResguardoError)
    status = status_of(error)
    if status == 500:
        LOGGER.error("request %s %s failed: %s", request.method, request.url.path, error.message)
        return error_response(500, "the server could not complete the request; see its log", {})
    details: dict[str, Any] = {"hint": error.hint} if error.hint else {}
    field = getattr(error, "api_field", None)
    if field:
        details["field"] = field
    return error_response(status, error.message, details)


async def _on_integrity(request: Request, error: Exception) -> JSONResponse:
    return error_response(409, "the change clashes with a record of the catalog; reload and try again")


async def _on_data(request: Request, error: Exception) -> JSONResponse:
    return error_response(422, "a value does not fit the catalog (too long, too large or malformed)")


async def _on_unexpected(request: Request, error: Exception) -> JSONResponse:
    LOGGER.exception("request %s %s failed", request.method, request.url.path)
    return error_response(500, "the server could not complete the request; see its log")


def install_error_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` answer in the one error shape."""
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(ResguardoError, _on_resguardo)
    app.add_exception_handler(IntegrityError, _on_integrity)
    app.add_exception_handler(DataError, _on_data)
    app.add_exception_handler(Exception, _on_unexpected)
