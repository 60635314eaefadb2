"""The local mode's e-mail notifications: the SMTP settings, the test message and the outbox, on the
catalog's database (documents shaped as the API's, changes audited under the local account's name)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resguardo.cli.catalog_client.local_base import LocalBase, every_page, local_user_name
from resguardo.cli.catalog_client.protocol import Record


class LocalNotifications(LocalBase):
    """SMTP settings and the outbox on the catalog's database (see the protocol)."""

    def show_smtp_settings(self) -> Record:
        """Return the SMTP settings (whether a password is set, never the password)."""
        from resguardo.api.routes.notifications import settings_json
        from resguardo.catalog import queries

        with self.sessions() as session:
            return settings_json(queries.notification_settings(session))

    def update_smtp_settings(self, changes: Mapping[str, Any], password: str | None) -> Record:
        """Change the SMTP settings in ``changes`` and the password when given; return the settings.
        Raises UsageError (a field), SecretKeyError (no key to seal the password)."""
        from resguardo.api.routes.notifications import settings_audit, settings_json
        from resguardo.catalog import queries

        now = self.now()
        key = self.secret_key() if password else None
        with self.sessions() as session:
            before = settings_audit(queries.notification_settings(session))
            settings = queries.update_notification_settings(session, key, changes, now, password=password)
            after = {**settings_audit(settings), "password_changed": password is not None}
            document = settings_json(settings)
            self.record_change(session, now, "settings.smtp", "settings", "smtp", before, after)
            return document

    def test_smtp(self, to: str) -> Record:
        """Send a test message to ``to`` now; return ``delivered`` with the server's answer, or its
        error and hint. Raises UsageError (not an address, settings missing), SecretKeyError."""
        from resguardo.core.errors import DeliveryError
        from resguardo.notify import send_test_message

        now = self.now()
        key = self.secret_key()
        with self.sessions() as session:
            try:
                answer = send_test_message(session, key, to, requested_by=local_user_name(), now=now)
                result: Record = {"delivered": True, "to": to, "answer": answer}
            except DeliveryError as error:
                result = {"delivered": False, "to": to, "error": error.message, "hint": error.hint}
            session.rollback()
            self.record_change(session, now, "settings.smtp_test", "settings", "smtp", after=result)
            return result

    def list_notifications(self, state: str | None) -> list[Record]:
        """Return the outbox (of ``state``), newest first. Raises UsageError (an unknown state)."""
        from resguardo.api.routes.notifications import notification_json
        from resguardo.catalog import queries

        chosen = _state(state)
        with self.sessions() as session:
            messages = every_page(
                lambda offset, limit: queries.list_notifications(
                    session, offset=offset, limit=limit, state=chosen
                )
            )
            return [notification_json(message) for message in messages]

    def retry_notification(self, notification_id: int) -> Record:
        """Queue the failed message ``notification_id`` again; return it. Raises NotFound, Conflict."""
        from resguardo.api.routes.notifications import notification_json
        from resguardo.catalog import queries

        now = self.now()
        with self.sessions() as session:
            message = queries.retry_notification(session, notification_id, now)
            document = notification_json(message)
            after = {"state": message.state.value, "recipient": message.recipient}
            self.record_change(
                session, now, "notification.retry", "notification", notification_id, after=after
            )
            return document


def _state(state: str | None) -> Any:
    """Return the outbox state named ``state`` (None: every state). Raises UsageError."""
    from resguardo.catalog.enums import NotificationState
    from resguardo.core.errors import UsageError

    if state is None:
        return None
    try:
        return NotificationState(state)
    except ValueError:
        choices = ", ".join(member.value for member in NotificationState)
        raise UsageError(f"--state must be one of {choices}, not {state!r}") from None
