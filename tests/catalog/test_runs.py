"""Runs: the claim, one running run per job, heartbeats, stale workers, retries and the failure log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from resguardo.catalog.enums import Role, RunState, RunTrigger
from resguardo.catalog.queries import (
    cancel_run,
    claim_next_run,
    create_user,
    enqueue_run,
    fail_stale_runs,
    finish_run,
    get_run,
    heartbeat,
    list_failures,
    list_runs,
    record_analysis,
)
from resguardo.core.errors import Conflict
from tests.catalog.conftest import NOW, Inventory

MINUTE = timedelta(minutes=1)


def test_a_worker_claims_the_oldest_due_run(session: Session, inventory: Inventory) -> None:
    first, second = inventory.job(session, "a"), inventory.job(session, "b")
    later = enqueue_run(session, first.id, trigger=RunTrigger.MANUAL, now=NOW, not_before=NOW + MINUTE)
    due = enqueue_run(session, second.id, trigger=RunTrigger.SCHEDULED, now=NOW)
    session.commit()

    claimed = claim_next_run(session, "worker-1", NOW)
    assert claimed is not None
    assert (claimed.id, claimed.state, claimed.worker_id) == (due.id, RunState.RUNNING, "worker-1")
    assert claimed.started_at == NOW
    assert claim_next_run(session, "worker-2", NOW) is None
    retried = claim_next_run(session, "worker-2", NOW + MINUTE)
    assert retried is not None
    assert retried.id == later.id


def test_a_job_never_has_two_running_runs(session: Session, inventory: Inventory) -> None:
    job = inventory.job(session, "a")
    enqueue_run(session, job.id, trigger=RunTrigger.SCHEDULED, now=NOW)
    second = enqueue_run(session, job.id, trigger=RunTrigger.MANUAL, now=NOW)
    session.commit()
    first = claim_next_run(session, "worker-1", NOW)
    assert first is not None
    assert claim_next_run(session, "worker-2", NOW) is None
    finish_run(session, first.id, "worker-1", RunState.SUCCEEDED, NOW + MINUTE)
    session.commit()
    next_run = claim_next_run(session, "worker-2", NOW + MINUTE)
    assert next_run is not None
    assert next_run.id == second.id


def test_heartbeats_record_progress_and_a_lost_run_tells_its_worker_to_stop(
    session: Session, inventory: Inventory
) -> None:
    job = inventory.job(session, "a")
    enqueue_run(session, job.id, trigger=RunTrigger.SCHEDULED, now=NOW)
    session.commit()
    run = claim_next_run(session, "worker-1", NOW)
    assert run is not None
    heartbeat(session, run.id, "worker-1", NOW + MINUTE, bytes_read=1000, files=3)
    session.commit()
    assert (get_run(session, run.id).bytes_read, get_run(session, run.id).files) == (1000, 3)
    with pytest.raises(Conflict, match="not running on worker worker-2"):
        heartbeat(session, run.id, "worker-2", NOW + MINUTE)


def test_a_run_whose_worker_died_is_failed_and_retried_with_backoff(
    session: Session, inventory: Inventory
) -> None:
    job = inventory.job(session, "a", max_retries=2, retry_backoff_seconds=60)
    enqueue_run(session, job.id, trigger=RunTrigger.SCHEDULED, now=NOW)
    session.commit()
    run = claim_next_run(session, "worker-1", NOW)
    assert run is not None

    assert fail_stale_runs(session, NOW + 4 * MINUTE, timedelta(minutes=5)) == []
    failed = fail_stale_runs(session, NOW + 6 * MINUTE, timedelta(minutes=5))
    session.commit()
    assert [stale.id for stale in failed] == [run.id]
    dead = get_run(session, run.id)
    assert dead.state is RunState.FAILED
    assert "worker worker-1 stopped reporting" in dead.error

    retry = list_runs(session, job_id=job.id, state=RunState.QUEUED).items
    assert [(item.trigger, item.attempt, item.retry_of_id) for item in retry] == [
        (RunTrigger.RETRY, 2, run.id)
    ]
    assert retry[0].not_before == NOW + 6 * MINUTE + 60 * timedelta(seconds=1)
    with pytest.raises(Conflict):
        finish_run(session, run.id, "worker-1", RunState.SUCCEEDED, NOW + 7 * MINUTE)


def test_retries_double_their_delay_and_stop_at_the_jobs_limit(
    session: Session, inventory: Inventory
) -> None:
    job = inventory.job(session, "a", max_retries=2, retry_backoff_seconds=100)
    enqueue_run(session, job.id, trigger=RunTrigger.SCHEDULED, now=NOW)
    session.commit()
    moment = NOW
    delays = []
    for _attempt in range(3):
        run = claim_next_run(session, "worker-1", moment + timedelta(hours=1))
        assert run is not None
        moment = moment + timedelta(hours=1)
        finish_run(session, run.id, "worker-1", RunState.FAILED, moment, error="disk full")
        session.commit()
        queued = list_runs(session, job_id=job.id, state=RunState.QUEUED).items
        delays.append([(item.not_before - moment).total_seconds() for item in queued])
    assert delays == [[100.0], [200.0], []]
    attempts = sorted(run.attempt for run in list_runs(session, job_id=job.id).items)
    assert attempts == [1, 2, 3]


def test_a_failure_opens_an_entry_that_the_next_success_closes(
    session: Session, inventory: Inventory
) -> None:
    job = inventory.job(session, "a", max_retries=1, retry_backoff_seconds=0)
    auditor = create_user(session, username="jefe", roles=[Role.OPERATOR], now=NOW)
    enqueue_run(session, job.id, trigger=RunTrigger.SCHEDULED, now=NOW)
    session.commit()
    failed = claim_next_run(session, "worker-1", NOW)
    assert failed is not None
    finish_run(session, failed.id, "worker-1", RunState.FAILED, NOW, error="connection refused")
    session.commit()

    entries = list_failures(session, open_only=True).items
    assert [(entry.run_id, entry.error) for entry in entries] == [(failed.id, "connection refused")]
    record_analysis(
        session,
        entries[0].id,
        who_id=auditor.id,
        now=NOW + MINUTE,
        cause="the database server was restarting",
        corrective_action="moved the window after the maintenance",
    )
    session.commit()

    retry = claim_next_run(session, "worker-2", NOW + MINUTE)
    assert retry is not None
    finish_run(session, retry.id, "worker-2", RunState.SUCCEEDED, NOW + 2 * MINUTE, snapshot_id="ab12")
    session.commit()
    assert list_failures(session, open_only=True).total == 0
    closed = list_failures(session).items[0]
    assert (closed.closed_by_run_id, closed.closed_at) == (retry.id, NOW + 2 * MINUTE)
    assert closed.cause == "the database server was restarting"
    assert closed.recorded_by_id == auditor.id


def test_a_partial_run_leaves_the_failure_log_open(session: Session, inventory: Inventory) -> None:
    job = inventory.job(session, "a", max_retries=1, retry_backoff_seconds=0)
    enqueue_run(session, job.id, trigger=RunTrigger.SCHEDULED, now=NOW)
    session.commit()
    run = claim_next_run(session, "w", NOW)
    assert run is not None
    finish_run(session, run.id, "w", RunState.FAILED, NOW, error="boom")
    session.commit()
    retry = claim_next_run(session, "w", NOW)
    assert retry is not None
    finish_run(session, retry.id, "w", RunState.PARTIAL, NOW, error="2 files unreadable")
    session.commit()
    assert list_failures(session, open_only=True).total == 1


def test_only_queued_runs_can_be_cancelled(session: Session, inventory: Inventory) -> None:
    job = inventory.job(session, "a")
    queued = enqueue_run(session, job.id, trigger=RunTrigger.MANUAL, now=NOW)
    session.commit()
    assert cancel_run(session, queued.id, NOW).state is RunState.CANCELLED
    session.commit()
    assert claim_next_run(session, "w", NOW) is None
    with pytest.raises(Conflict, match="not queued"):
        cancel_run(session, queued.id, NOW)


def test_a_job_whose_runs_must_still_be_kept_cannot_be_removed(
    session: Session, inventory: Inventory
) -> None:
    from resguardo.catalog.queries import delete_job, get_job

    job = inventory.job(session, "kept")
    enqueue_run(session, job.id, trigger=RunTrigger.SCHEDULED, now=NOW)
    session.commit()
    with pytest.raises(Conflict, match="must be kept"):
        delete_job(session, job.id, now=NOW + timedelta(days=364))
    assert get_job(session, job.id).name == "kept"
    delete_job(session, job.id, now=NOW + timedelta(days=job.records_keep_days + 1))
    session.commit()
    assert list_runs(session, job_id=job.id).total == 0


def test_a_list_of_runs_leaves_their_logs_unread_until_asked_for(
    session: Session, inventory: Inventory
) -> None:
    job = inventory.job(session, "a")
    run = enqueue_run(session, job.id, trigger=RunTrigger.MANUAL, now=NOW)
    run.log = "line\n" * 1000
    session.commit()
    session.expunge_all()

    [listed] = list_runs(session).items
    assert "log" not in inspect(listed).dict
    assert listed.log.count("line") == 1000
