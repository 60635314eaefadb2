"""The API's answers that are not a success, as the errors the local mode raises (same exit codes).

The API answers ``{"error": {"code", "message", "details"}}``: 404 becomes NotFound, 409 Conflict,
422 ConfigurationError naming the fields, 401 and 403 AccessDenied saying to log in again or which
roles may; failures to reach the server become ConfigurationError naming its address.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from resguardo.core.errors import (
    AccessDenied,
    ConfigurationError,
    Conflict,
    NotFound,
    ResguardoError,
)

if TYPE_CHECKING:
    import httpx


SAME_ERRORS: dict[int, type[ResguardoError]] = {404: NotFound, 409: Conflict}
"""Statuses whose message (and hint) are those the local mode's error would have."""


def _error_body(response: httpx.Response) -> dict[str, Any] | None:
    """Return the ``error`` object of an answer in the API's error shape, or None when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return None
    return error


def _invalid_fields(message: str, details: dict[str, Any]) -> str:
    """Return the message of a 422: each field the server named, with what is wrong with it."""
    problems = details.get("errors")
    if not isinstance(problems, list) or not problems:
        field = details.get("field")
        return f"{message} (field {field})" if field and field not in message else message
    parts = [f"{problem.get('field', '?')}: {problem.get('message', 'invalid')}" for problem in problems]
    return "the server refused the request: " + "; ".join(parts)


def _denied(status: int, message: str, details: dict[str, Any], server: str) -> AccessDenied:
    if status == 401:
        return AccessDenied(
            f"the server at {server} did not accept the API token: {message}",
            f"log in again with 'resguardo login --server {server}', or check --token-file / RESGUARDO_TOKEN",
        )
    roles = details.get("roles_allowed")
    allowed = f" (roles that may: {', '.join(roles)})" if isinstance(roles, list) and roles else ""
    return AccessDenied(
        f"your role cannot do this on {server}: {message}",
        f"ask an administrator for a role that allows it{allowed}",
    )


def error_of(response: httpx.Response, server: str) -> ResguardoError:
    """Return the error the answer ``response`` of ``server`` stands for (its status is not a success)."""
    status = response.status_code
    error = _error_body(response)
    if error is None:
        return ConfigurationError(
            f"{server} answered HTTP {status} without Resguardo's error shape; is it a Resguardo server?",
            "check --server / RESGUARDO_SERVER: the address 'resguardo serve' listens on",
        )
    message = error["message"]
    sent = error.get("details")
    details: dict[str, Any] = sent if isinstance(sent, dict) else {}
    hint = details.get("hint") if isinstance(details.get("hint"), str) else None
    if status in (401, 403):
        return _denied(status, message, details, server)
    if status in SAME_ERRORS:
        return SAME_ERRORS[status](message, hint)
    if status == 422:
        return ConfigurationError(_invalid_fields(message, details), hint or "correct it and try again")
    if status == 429:
        return ResguardoError(message, "wait, then try again")
    return ResguardoError(f"the server at {server} failed (HTTP {status}): {message}", "see the server's log")


def _tls_problem(error: BaseException) -> ssl.SSLError | None:
    """Return the TLS error behind a transport error, if there is one."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def unreachable(error: httpx.TransportError, server: str) -> ResguardoError:
    """Return the error for a request to ``server`` that got no answer (refused, TLS, timeout)."""
    import httpx

    tls = _tls_problem(error)
    if tls is not None:
        reason = getattr(tls, "verify_message", None) or getattr(tls, "reason", None) or str(tls)
        return ConfigurationError(
            f"the TLS connection to {server} failed: {reason}",
            "check the address; for a certificate of your own authority, point SSL_CERT_FILE at its CA file",
        )
    if isinstance(error, httpx.TimeoutException):
        return ResguardoError(
            f"the server at {server} did not answer in time", "check that it runs and is not overloaded"
        )
    detail = str(error).split("] ")[-1] or type(error).__name__
    return ConfigurationError(
        f"cannot reach the server at {server}: {detail}",
        "check --server / RESGUARDO_SERVER, and that 'resguardo serve' runs there",
    )
