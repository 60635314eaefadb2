"""Restores on the catalog's database (local mode): checked and queued by the service, as the API does,
each start and cancel audited under the local account's name. A worker (``resguardo serve`` or
``resguardo worker``) carries them out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resguardo.cli.catalog_client.documents import RESTORE_KEYS, picked
from resguardo.cli.catalog_client.local_base import LocalBase, every_page
from resguardo.cli.catalog_client.local_inventory import find_client
from resguardo.cli.catalog_client.protocol import Record


def _document(restore: Any, *, with_log: bool = False) -> Record:
    from resguardo.api.routes.restores import restore_json

    document = picked(restore_json(restore), RESTORE_KEYS)
    return {**document, "log": restore.log} if with_log else document


class LocalRestores(LocalBase):
    """The restores of the catalog."""

    def start_restore(self, body: Mapping[str, Any], client: str | None) -> Record:
        """Check and queue the restore ``body`` describes (the API's body; ``client`` names the target
        client); return it. Raises NotFound, UsageError (naming the field), Conflict (target exists)."""
        from resguardo.catalog import RestoreKind, queries
        from resguardo.services.restores import RestoreOrder, request_restore

        target = dict(body.get("target") or {})
        now = self.now()
        with self.sessions() as session:
            order = RestoreOrder(
                run_id=int(body["run_id"]),
                kind=RestoreKind(body.get("kind", RestoreKind.DATABASE)),
                items=list(body["items"]),
                client_id=find_client(session, client).id if client else None,
                databases=dict(target.get("databases") or {}),
                sqlite_path=target.get("sqlite_path"),
                folder=target.get("folder"),
                overwrite=bool(body.get("overwrite", False)),
                reason=str(body.get("reason", "")),
            )
            restore = request_restore(session, self.secret_key(), order, now)
            after = queries.snapshot_of(restore)
            self.record_change(session, now, "restore.start", "restore", restore.id, after=after)
            return _document(restore)

    def list_restores(self, state: str | None) -> list[Record]:
        """Return the restores (in ``state`` when given), newest first."""
        from resguardo.catalog import RestoreState, queries

        chosen = RestoreState(state) if state else None
        with self.sessions() as session:
            restores = every_page(
                lambda offset, limit: queries.list_restores(session, offset=offset, limit=limit, state=chosen)
            )
            return [_document(restore) for restore in restores]

    def show_restore(self, restore_id: int) -> Record:
        """Return the restore ``restore_id`` with its log. Raises NotFound."""
        from resguardo.catalog import queries

        with self.sessions() as session:
            return _document(queries.get_restore(session, restore_id), with_log=True)

    def cancel_restore(self, restore_id: int) -> Record:
        """Cancel the restore ``restore_id``; return it. Raises NotFound, Conflict (it has ended)."""
        from resguardo.catalog import queries

        now = self.now()
        with self.sessions() as session:
            before = queries.snapshot_of(queries.get_restore(session, restore_id))
            restore = queries.cancel_restore(session, restore_id, now)
            after = queries.snapshot_of(restore)
            self.record_change(session, now, "restore.cancel", "restore", restore_id, before, after)
            return _document(restore)

    def retry_restore(self, restore_id: int, from_copy: bool = False) -> Record:
        """Queue a failed or cancelled restore again (``from_copy``: from the copy it offers); return the
        new one. Raises NotFound, Conflict."""
        from resguardo.catalog import queries

        now = self.now()
        with self.sessions() as session:
            restore = queries.requeue_restore(session, restore_id, now, None, from_copy=from_copy)
            after = {**queries.snapshot_of(restore), "retry_of": restore_id, "from_copy": from_copy}
            self.record_change(session, now, "restore.retry", "restore", restore.id, after=after)
            return _document(restore)
