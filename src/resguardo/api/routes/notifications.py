"""E-mail notifications: the SMTP settings (the password write-only), a test message, and the outbox
(list, retry a failed message). Administrators only; every change audited, never the password."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import AfterValidator, Field, SecretStr

from resguardo.api.auth import CatalogSession, Principal, allow
from resguardo.api.context import context_of
from resguardo.api.routes._common import (
    DATABASE_INTEGER_MAX,
    Input,
    Limit,
    Offset,
    audit,
    changes_of,
    naming_fields,
    now_of,
    page_of,
)
from resguardo.api.routes.people import user_audit, user_json
from resguardo.catalog.enums import NotificationState, SmtpSecurity
from resguardo.catalog.models import Notification, NotificationSettings
from resguardo.catalog.queries import (
    get_user,
    is_email_address,
    list_notifications,
    notification_settings,
    retry_notification,
    smtp_password_set,
    snapshot_of,
    update_notification_settings,
    update_user,
)
from resguardo.catalog.queries.notification_settings import SETTING_FIELDS
from resguardo.core.errors import DeliveryError
from resguardo.notify import send_test_message

router = APIRouter(prefix="/api/v1", tags=["notifications"])
NotificationId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]
HostText = Annotated[str, Field(max_length=255, pattern=r"^[^\x00\s]*$")]
AddressText = Annotated[str, Field(max_length=254, pattern=r"^[^\x00\s]*$")]


class SmtpSettingsUpdate(Input):
    """The SMTP settings to change (those sent); ``password`` is write-only, an empty one removes it."""

    enabled: bool | None = None
    smtp_host: HostText | None = None
    smtp_port: Annotated[int, Field(ge=1, le=65535)] | None = None
    smtp_security: SmtpSecurity | None = None
    smtp_username: Annotated[str, Field(max_length=255, pattern=r"^[^\x00]*$")] | None = None
    password: Annotated[SecretStr, Field(max_length=1024)] | None = None
    sender: AddressText | None = None
    console_url: Annotated[str, Field(max_length=1024, pattern=r"^[^\x00\s]*$")] | None = None
    failure_window_hours: Annotated[int, Field(ge=0, le=720)] | None = None
    notify_recovery: bool | None = None
    max_attempts: Annotated[int, Field(ge=1, le=50)] | None = None


def _address(value: str) -> str:
    if not is_email_address(value):
        raise ValueError("not an e-mail address (e.g. you@example.org)")
    return value


class TestMessage(Input):
    """Where to send the test message."""

    to: Annotated[str, Field(min_length=3, max_length=254), AfterValidator(_address)]


def _moment(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def settings_json(settings: NotificationSettings) -> dict[str, Any]:
    """Return the SMTP settings as JSON: whether a password is set, never the password."""
    return {
        "enabled": settings.enabled,
        "smtp_host": settings.smtp_host,
        "smtp_port": settings.smtp_port,
        "smtp_security": settings.smtp_security.value,
        "smtp_username": settings.smtp_username,
        "password_set": smtp_password_set(settings),
        "sender": settings.sender,
        "console_url": settings.console_url,
        "failure_window_hours": settings.failure_window_hours,
        "notify_recovery": settings.notify_recovery,
        "max_attempts": settings.max_attempts,
        "updated_at": _moment(settings.updated_at),
    }


def settings_audit(settings: NotificationSettings) -> dict[str, Any]:
    """Return the audit snapshot of the settings: whether a password is set, never its value."""
    snapshot = {key: value for key, value in snapshot_of(settings).items() if key in SETTING_FIELDS}
    return {**snapshot, "password_set": smtp_password_set(settings)}


def notification_json(message: Notification) -> dict[str, Any]:
    """Return a message of the outbox as JSON."""
    return {
        "id": message.id,
        "event": message.event,
        "recipient": message.recipient,
        "language": message.language.value,
        "subject": message.subject,
        "state": message.state.value,
        "attempts": message.attempts,
        "next_attempt_at": _moment(message.next_attempt_at),
        "last_error": message.last_error,
        "job_id": message.job_id,
        "run_id": message.run_id,
        "created_at": _moment(message.created_at),
        "sent_at": _moment(message.sent_at),
    }


@router.get("/settings/smtp")
def smtp_settings_show(
    session: CatalogSession, principal: Annotated[Principal, allow("notifications.read")]
) -> dict[str, Any]:
    """Show the SMTP settings (``password_set`` says whether a password is stored; it is never shown)."""
    return settings_json(notification_settings(session))


@router.put("/settings/smtp")
def smtp_settings_update(
    body: SmtpSettingsUpdate,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("notifications.write")],
) -> dict[str, Any]:
    """Change the SMTP settings sent (the others are kept); audited, the password only as changed."""
    before = settings_audit(notification_settings(session))
    changes = {key: value for key, value in changes_of(body, ("password",)).items() if value is not None}
    password = body.password.get_secret_value() if body.password is not None else None
    with naming_fields([*SETTING_FIELDS]):
        settings = update_notification_settings(
            session, context_of(request).secret_key, changes, now_of(request), password=password
        )
    after = {**settings_audit(settings), "password_changed": password is not None}
    audit(session, request, principal, "settings.smtp", "settings", "smtp", before, after)
    session.commit()
    return settings_json(settings)


@router.post("/settings/smtp/test")
def smtp_settings_test(
    body: TestMessage,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("notifications.write")],
) -> dict[str, Any]:
    """Send a test message now through the saved settings; say whether the server took it and, if
    not, its answer and what to change (``delivered``, ``answer`` or ``error`` and ``hint``)."""
    try:
        answer = send_test_message(
            session,
            context_of(request).secret_key,
            body.to,
            requested_by=principal.user.username,
            now=now_of(request),
            language=principal.user.language.value,
        )
        result: dict[str, Any] = {"delivered": True, "to": body.to, "answer": answer}
    except DeliveryError as error:
        result = {"delivered": False, "to": body.to, "error": error.message, "hint": error.hint}
    audit(session, request, principal, "settings.smtp_test", "settings", "smtp", after=result)
    session.commit()
    return result


@router.get("/notifications")
def notifications_list(
    session: CatalogSession,
    principal: Annotated[Principal, allow("notifications.read")],
    limit: Limit = 50,
    offset: Offset = 0,
    state: Annotated[NotificationState | None, Query()] = None,
) -> dict[str, Any]:
    """List the outbox, newest first (of one state: queued, sent, failed)."""
    return page_of(list_notifications(session, offset=offset, limit=limit, state=state), notification_json)


@router.post("/notifications/{notification_id}/retry")
def notifications_retry(
    notification_id: NotificationId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("notifications.write")],
) -> dict[str, Any]:
    """Queue a failed message again, due now, its attempts counted afresh (409 when not failed)."""
    message = retry_notification(session, notification_id, now_of(request))
    after = {"state": message.state.value, "recipient": message.recipient}
    audit(session, request, principal, "notification.retry", "notification", notification_id, after=after)
    session.commit()
    return notification_json(message)


class Preferences(Input):
    """The caller's own choices: whether they receive the e-mails about failed runs."""

    notify_failures: bool | None = None


@router.put("/session/preferences")
def session_preferences(
    body: Preferences,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("preferences.own")],
) -> dict[str, Any]:
    """Change the caller's own preferences (those sent); audited; return their user."""
    user_id = principal.user.id
    before = user_audit(get_user(session, user_id))
    changes = {key: value for key, value in changes_of(body).items() if value is not None}
    user = update_user(session, user_id, changes, now=now_of(request))
    audit(session, request, principal, "user.preferences", "user", user_id, before, user_audit(user))
    session.commit()
    return user_json(user)
