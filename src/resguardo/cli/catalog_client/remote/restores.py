"""Restores through the API (remote mode): ``/api/v1/restores``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resguardo.cli.catalog_client.documents import RESTORE_KEYS, picked
from resguardo.cli.catalog_client.protocol import Record
from resguardo.cli.catalog_client.remote.base import RemoteBase


def _record(document: dict[str, Any], *, with_log: bool = False) -> Record:
    record = picked(document, RESTORE_KEYS)
    return {**record, "log": document["log"]} if with_log else record


class RemoteRestores(RemoteBase):
    """The restores of the server's catalog."""

    def start_restore(self, body: Mapping[str, Any], client: str | None) -> Record:
        """Check and queue a restore; return it. Raises NotFound, UsageError, Conflict."""
        target = dict(body.get("target") or {})
        if client is not None:
            target["client_id"] = self.find_id("/clients", "client", client)
        return _record(self.api.request("POST", "/restores", json={**body, "target": target}))

    def list_restores(self, state: str | None) -> list[Record]:
        """Return the restores (in ``state``), newest first."""
        params = {"state": state} if state else None
        return [_record(item) for item in self.api.every_item("/restores", params)]

    def show_restore(self, restore_id: int) -> Record:
        """Return the restore ``restore_id`` with its log. Raises NotFound."""
        return _record(self.api.get(f"/restores/{restore_id}"), with_log=True)

    def cancel_restore(self, restore_id: int) -> Record:
        """Cancel the restore ``restore_id``; return it. Raises NotFound, Conflict."""
        return _record(self.api.request("POST", f"/restores/{restore_id}/cancel"))

    def retry_restore(self, restore_id: int, from_copy: bool = False) -> Record:
        """Queue a failed or cancelled restore again (``from_copy``: from the copy it offers); return the
        new one. Raises NotFound, Conflict."""
        body = {"from_copy": True} if from_copy else None
        return _record(self.api.request("POST", f"/restores/{restore_id}/retry", json=body))
