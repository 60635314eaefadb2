"""Restores in the catalog: one worker claims each, a cancelled one refuses its worker's heartbeat, and one
whose worker stopped reporting is failed by the sweep (not retried) and can be queued again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from resguardo.catalog import RestoreKind, RestoreState, RunState, RunTrigger, queries
from resguardo.catalog.models import Restore
from resguardo.core.errors import Conflict, UsageError
from tests.catalog.conftest import NOW, Inventory


def _restore(session: Session, inventory: Inventory, *, snapshot: str | None = "ab" * 32) -> Restore:
    run = queries.enqueue_run(session, inventory.job(session, "pg").id, trigger=RunTrigger.MANUAL, now=NOW)
    run.state, run.snapshot_id = RunState.SUCCEEDED, snapshot
    restore = queries.enqueue_restore(
        session,
        run,
        repository_id=inventory.repository.id,
        kind=RestoreKind.DATABASE,
        items=["sales"],
        target={"client_id": inventory.client.id, "databases": {"sales": "sales_restored"}},
        overwrite=False,
        now=NOW,
    )
    session.commit()
    return restore


def test_a_run_without_snapshot_cannot_be_restored(session: Session, inventory: Inventory) -> None:
    with pytest.raises(UsageError, match="saved no snapshot"):
        _restore(session, inventory, snapshot=None)


def test_only_one_worker_claims_a_restore_and_a_cancel_stops_its_heartbeats(
    session: Session, inventory: Inventory
) -> None:
    restore = _restore(session, inventory)
    claimed = queries.claim_next_restore(session, "worker-1", NOW)
    assert claimed is not None and claimed.id == restore.id and claimed.state is RestoreState.RUNNING
    assert queries.claim_next_restore(session, "worker-2", NOW) is None
    queries.restore_heartbeat(session, restore.id, "worker-1", NOW, bytes_restored=100)
    session.commit()

    queries.cancel_restore(session, restore.id, NOW)
    session.commit()

    with pytest.raises(Conflict):
        queries.restore_heartbeat(session, restore.id, "worker-1", NOW, bytes_restored=200)
    with pytest.raises(Conflict, match="has ended"):
        queries.cancel_restore(session, restore.id, NOW)


def test_a_restore_whose_worker_stopped_reporting_is_failed_and_not_retried(
    session: Session, inventory: Inventory
) -> None:
    restore = _restore(session, inventory)
    assert queries.claim_next_restore(session, "worker-1", NOW) is not None

    assert queries.fail_stale_restores(session, NOW + timedelta(minutes=1), timedelta(minutes=5)) == []
    failed = queries.fail_stale_restores(session, NOW + timedelta(minutes=6), timedelta(minutes=5))
    session.commit()

    assert [item.id for item in failed] == [restore.id]
    assert queries.get_restore(session, restore.id).state is RestoreState.FAILED
    assert "stopped reporting" in queries.get_restore(session, restore.id).error
    assert queries.claim_next_restore(session, "worker-2", NOW) is None
    with pytest.raises(Conflict):
        queries.finish_restore(session, restore.id, "worker-1", RestoreState.SUCCEEDED, NOW)
