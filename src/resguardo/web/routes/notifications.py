"""The "Notifications" page (administrators): the SMTP settings form, the test message, and the outbox
with a "retry now" button for failed messages; each saved by the API's endpoint function, so the
checks, audit and permissions are the API's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from resguardo.api.auth import CatalogSession, Principal
from resguardo.api.routes import notifications as api
from resguardo.api.routes._common import DATABASE_INTEGER_MAX
from resguardo.catalog.enums import NotificationState, SmtpSecurity
from resguardo.catalog.queries import list_notifications, notification_settings
from resguardo.core.errors import ResguardoError
from resguardo.web.forms import FormInvalid, FormState, checked, flag, optional_int, submit
from resguardo.web.i18n import gettext
from resguardo.web.pages import PAGE_SIZE, Fields, page, page_offset, render, see_other

router = APIRouter(include_in_schema=False)
NotificationId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]
TEXT_FIELDS = ("smtp_host", "smtp_security", "smtp_username", "sender", "console_url")
NUMBER_FIELDS = ("smtp_port", "failure_window_hours", "max_attempts")
FLAG_FIELDS = ("enabled", "notify_recovery")


def _state_of(request: Request) -> NotificationState | None:
    wanted = request.query_params.get("state", "")
    return NotificationState(wanted) if wanted in {item.value for item in NotificationState} else None


def _context(
    request: Request, session: Session, form: FormState, test: dict[str, Any] | None
) -> dict[str, Any]:
    """Return the page's context: the settings form, the last test's result, and the outbox listing."""
    state = _state_of(request)
    settings = notification_settings(session)
    return {
        "form": form,
        "test": test,
        "password_set": settings.password_sealed is not None,
        "securities": [item.value for item in SmtpSecurity],
        "states": list(NotificationState),
        "state": state.value if state else "",
        "listing": list_notifications(session, offset=page_offset(request), limit=PAGE_SIZE, state=state),
    }


def _stored_values(session: Session) -> dict[str, Any]:
    settings = api.settings_json(notification_settings(session))
    return {name: settings[name] for name in (*TEXT_FIELDS, *NUMBER_FIELDS, *FLAG_FIELDS)}


@router.get("/notifications")
def notifications_page(
    request: Request, session: CatalogSession, principal: Annotated[Principal, page("notifications.read")]
) -> HTMLResponse:
    """Show the SMTP settings, the test form and the outbox (``?state=`` filters it)."""
    context = _context(request, session, FormState(_stored_values(session)), None)
    return render(request, "notifications.html", context, principal)


def _settings_body(fields: dict[str, str]) -> dict[str, Any]:
    """Return the API body of the settings form: texts, numbers (empty: kept), ticks, the password."""
    body: dict[str, Any] = {name: fields.get(name, "").strip() for name in TEXT_FIELDS}
    body.update({name: optional_int(fields.get(name, "")) for name in NUMBER_FIELDS})
    body.update({name: flag(fields, name) for name in FLAG_FIELDS})
    if flag(fields, "remove_password"):
        body["password"] = ""
    elif fields.get("password"):
        body["password"] = fields["password"]
    return {name: value for name, value in body.items() if value is not None}


@router.post("/notifications/settings")
def notifications_settings(
    request: Request,
    session: CatalogSession,
    fields: Fields,
    principal: Annotated[Principal, page("notifications.write")],
) -> Response:
    """Save the SMTP settings as ``PUT /api/v1/settings/smtp`` does (the password only when typed)."""
    body = _settings_body(fields)
    shown = {name: value for name, value in body.items() if name != "password"}
    context = _context(request, session, FormState(shown), None)

    def save() -> str:
        api.smtp_settings_update(checked(api.SmtpSettingsUpdate, body), request, session, principal)
        return "/notifications"

    return submit(request, session, principal, "notifications.html", context, save)


@router.post("/notifications/test")
def notifications_test(
    request: Request,
    session: CatalogSession,
    fields: Fields,
    principal: Annotated[Principal, page("notifications.write")],
) -> HTMLResponse:
    """Send a test message as ``POST /api/v1/settings/smtp/test`` does; show the server's answer."""
    form = FormState(_stored_values(session))
    try:
        result = api.smtp_settings_test(
            checked(api.TestMessage, {"to": fields.get("to", "").strip()}), request, session, principal
        )
    except FormInvalid:
        session.rollback()
        result = {"delivered": False, "to": "", "error": gettext("Write an e-mail address."), "hint": ""}
    except ResguardoError as error:  # no server or sender saved yet, or the key cannot open the password
        session.rollback()
        result = {"delivered": False, "to": "", "error": error.message, "hint": error.hint}
    status = 200 if result["delivered"] else 422
    context = _context(request, session, form, result)
    return render(request, "notifications.html", context, principal, status=status)


@router.post("/notifications/{notification_id}/retry")
def notifications_retry(
    notification_id: NotificationId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("notifications.write")],
) -> RedirectResponse:
    """Queue a failed message again as ``POST /api/v1/notifications/{id}/retry`` does."""
    api.notifications_retry(notification_id, request, session, principal)
    return see_other("/notifications")
