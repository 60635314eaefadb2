"""The remote mode's e-mail notifications: the SMTP settings, the test message and the outbox through
the API (the same documents as the local mode)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resguardo.cli.catalog_client.protocol import Record
from resguardo.cli.catalog_client.remote.base import RemoteBase


class RemoteNotifications(RemoteBase):
    """SMTP settings and the outbox through a server's API (see the protocol)."""

    def show_smtp_settings(self) -> Record:
        """Return the SMTP settings (whether a password is set, never the password)."""
        document: Record = self.api.get("/settings/smtp")
        return document

    def update_smtp_settings(self, changes: Mapping[str, Any], password: str | None) -> Record:
        """Change the SMTP settings in ``changes`` and the password when given; return the settings."""
        body = {**changes, **({"password": password} if password is not None else {})}
        document: Record = self.api.request("PUT", "/settings/smtp", json=body)
        return document

    def test_smtp(self, to: str) -> Record:
        """Send a test message to ``to`` now; return whether the server took it, and its answer."""
        document: Record = self.api.request("POST", "/settings/smtp/test", json={"to": to})
        return document

    def list_notifications(self, state: str | None) -> list[Record]:
        """Return the outbox (of ``state``), newest first."""
        return self.api.every_item("/notifications", {"state": state} if state else None)

    def retry_notification(self, notification_id: int) -> Record:
        """Queue the failed message ``notification_id`` again; return it."""
        document: Record = self.api.request("POST", f"/notifications/{notification_id}/retry")
        return document
