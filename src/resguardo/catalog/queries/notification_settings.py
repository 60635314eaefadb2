"""The SMTP settings of the service: read them, change them (checked), and reveal the sealed password.

The password is write-only: it is sealed with the catalog's key (AES-256-GCM bound to this row) and
only :func:`reveal_smtp_password` returns it, for the sender that logs in to the server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from resguardo.catalog.enums import SmtpSecurity
from resguardo.catalog.models import NotificationSettings
from resguardo.catalog.models.notifications import (
    DEFAULT_FAILURE_WINDOW_HOURS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_SMTP_PORT,
    SETTINGS_ROW,
)
from resguardo.catalog.queries._common import apply_changes, reverting_on_error, touch
from resguardo.catalog.secrets import SecretKey
from resguardo.core.errors import SecretKeyError, UsageError

SETTING_FIELDS = (
    "enabled",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_username",
    "sender",
    "console_url",
    "failure_window_hours",
    "notify_recovery",
    "max_attempts",
)
"""The settings that may be changed (the password is set apart)."""
MAX_FAILURE_WINDOW_HOURS = 24 * 30
MAX_ATTEMPTS_LIMIT = 50
_ADDRESS = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+$")
_PASSWORD_CONTEXT = b"resguardo smtp password\0notification_settings\0" + str(SETTINGS_ROW).encode()


def is_email_address(value: str) -> bool:
    """Return True when ``value`` looks like an e-mail address (``local@domain``, no spaces)."""
    return bool(_ADDRESS.match(value)) and len(value) <= 254


def notification_settings(session: Session) -> NotificationSettings:
    """Return the settings row; a new one (disabled, not yet stored) when none was ever saved."""
    record = session.get(NotificationSettings, SETTINGS_ROW)
    if record is not None:
        return record
    return NotificationSettings(
        id=SETTINGS_ROW,
        enabled=False,
        smtp_host="",
        smtp_port=DEFAULT_SMTP_PORT,
        smtp_security=SmtpSecurity.STARTTLS,
        smtp_username="",
        sender="",
        console_url="",
        failure_window_hours=DEFAULT_FAILURE_WINDOW_HOURS,
        notify_recovery=True,
        max_attempts=DEFAULT_MAX_ATTEMPTS,
    )


def smtp_password_set(settings: NotificationSettings) -> bool:
    """Return True when an SMTP password is stored (its value is never returned but by the reveal)."""
    return settings.password_sealed is not None


def update_notification_settings(
    session: Session,
    key: SecretKey | None,
    changes: Mapping[str, Any],
    now: datetime,
    *,
    password: str | None = None,
) -> NotificationSettings:
    """Change the settings named in ``changes`` and, when ``password`` is given, the SMTP password
    (an empty one removes it); flush and return the settings.

    Raises:
        UsageError: a field is unknown or its value is wrong (the message names the field).
        SecretKeyError: a password is given without the catalog's key.
    """
    record = notification_settings(session)
    if record not in session:
        touch(record, now, created=True)
        session.add(record)
        session.flush()
    with reverting_on_error(session, record):
        apply_changes(record, _normalized(changes), SETTING_FIELDS, "notification setting")
        _check(record)
        if password is not None:
            _store_password(record, key, password)
        touch(record, now)
    session.flush()
    return record


def _normalized(changes: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(changes)
    if "smtp_security" in values:
        try:
            values["smtp_security"] = SmtpSecurity(values["smtp_security"])
        except ValueError:
            choices = ", ".join(member.value for member in SmtpSecurity)
            raise UsageError(
                f"smtp_security must be one of {choices}, not {values['smtp_security']!r}",
                "starttls for port 587, tls for port 465, none only on a trusted network",
            ) from None
    for name in ("smtp_host", "smtp_username", "sender", "console_url"):
        if name in values and isinstance(values[name], str):
            values[name] = values[name].strip()
    if values.get("console_url"):
        values["console_url"] = values["console_url"].rstrip("/")
    return values


def _check(record: NotificationSettings) -> None:
    """Check the settings as a whole. Raises UsageError naming the field at fault."""
    if not 1 <= record.smtp_port <= 65535:
        raise UsageError(f"smtp_port must be from 1 to 65535, not {record.smtp_port}")
    if record.sender and not is_email_address(record.sender):
        raise UsageError(f"sender {record.sender!r} is not an e-mail address", "e.g. backups@example.org")
    if record.console_url and not record.console_url.startswith(("http://", "https://")):
        raise UsageError(
            "console_url must start with http:// or https://", "e.g. https://backups.example.org"
        )
    if not 0 <= record.failure_window_hours <= MAX_FAILURE_WINDOW_HOURS:
        raise UsageError(f"failure_window_hours must be from 0 to {MAX_FAILURE_WINDOW_HOURS}")
    if not 1 <= record.max_attempts <= MAX_ATTEMPTS_LIMIT:
        raise UsageError(f"max_attempts must be from 1 to {MAX_ATTEMPTS_LIMIT}")
    if record.enabled and not record.smtp_host:
        raise UsageError("smtp_host is needed to enable notifications", "give the SMTP server's name")
    if record.enabled and not record.sender:
        raise UsageError("sender is needed to enable notifications", "give the address messages come from")


def _store_password(record: NotificationSettings, key: SecretKey | None, password: str) -> None:
    if not password:
        record.password_key_id = None
        record.password_sealed = None
        return
    if key is None:
        raise SecretKeyError("the catalog's key is needed to seal the SMTP password")
    record.password_key_id = key.key_id
    record.password_sealed = key.seal(password, _PASSWORD_CONTEXT)


def reveal_smtp_password(settings: NotificationSettings, key: SecretKey) -> str:
    """Return the clear SMTP password ("" when none is stored), for logging in to the server only.

    Raises:
        SecretKeyError: ``key`` is not the key that sealed it, or the stored value was altered.
    """
    if settings.password_sealed is None:
        return ""
    if settings.password_key_id != key.key_id:
        raise SecretKeyError(
            f"the SMTP password was sealed with the catalog key {settings.password_key_id}, "
            f"not with the key given ({key.key_id})",
            "start the service with the catalog's own key, or set the SMTP password again",
        )
    return key.open(settings.password_sealed, _PASSWORD_CONTEXT)
