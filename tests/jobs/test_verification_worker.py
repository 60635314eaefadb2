"""Verifications queued by the scheduling loop once per slot, and a lost worker's verification failed
and queued again (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from resguardo.catalog import VerificationKind, VerificationState, VerificationTrigger, queries
from resguardo.catalog.models import Verification
from resguardo.jobs.verification_schedule import schedule_verifications
from tests.fixtures.service import Service
from tests.services.verification_helpers import back_up

FIRST_SUNDAY_SLOT = datetime(2026, 3, 8, 3, 0, tzinfo=UTC)
FIRST_MONTHLY_SLOT = datetime(2026, 4, 1, 4, 0, tzinfo=UTC)  # restore tests: monthly, day 1 at 04:00


def _register(service: Service) -> list[Verification]:
    with service.sessions() as session:
        records = list(session.scalars(select(Verification).order_by(Verification.id)))
        for record in records:
            session.expunge(record)
        return records


def test_a_slot_is_queued_once_whatever_the_number_of_passes_and_missed_slots_give_one(
    service: Service,
) -> None:
    repository_id = service.repository("weekly")
    service.clock.advance(
        (FIRST_SUNDAY_SLOT + timedelta(weeks=2, minutes=5) - service.clock.now()).total_seconds()
    )

    first = schedule_verifications(service.sessions, service.clock.now())
    second = schedule_verifications(service.sessions, service.clock.now())

    assert len(first) == 1 and second == []
    [record] = _register(service)
    assert (record.kind, record.repository_id, record.trigger) == (
        VerificationKind.SCRUB,
        repository_id,
        VerificationTrigger.SCHEDULE,
    )
    assert record.schedule_slot == FIRST_SUNDAY_SLOT + timedelta(weeks=2)  # three missed: the latest, once
    with service.sessions() as session:
        session.get(Verification, record.id).state = VerificationState.PASSED  # type: ignore[union-attr]
        session.commit()
    assert schedule_verifications(service.sessions, service.clock.now()) == []  # that slot was taken


def test_a_verification_whose_worker_stopped_is_failed_and_queued_again(service: Service) -> None:
    repository_id = service.repository("lost")
    with service.sessions() as session:
        request = queries.VerificationRequest(VerificationKind.SCRUB, repository_id, requested_by="olga")
        queued = queries.queue_verification(session, request, service.clock.now())
        session.commit()
        assert queued is not None
        assert queries.claim_next_verification(session, "dead-worker", service.clock.now()) is not None
    service.clock.advance(6 * 60)

    done = service.worker("living-worker").verify_one()

    lost, again = _register(service)
    assert lost.state is VerificationState.FAILED and "dead-worker stopped reporting" in lost.error
    assert (again.attempt, again.requested_by, again.trigger) == (2, "olga", VerificationTrigger.MANUAL)
    assert done is not None and done[0] == again.id  # then run by the living worker
    assert again.worker_id == "living-worker" and again.state is VerificationState.FAILED
    assert "missing" in again.error  # this repository was never created: the scrub says so


def test_a_job_without_a_backup_gets_no_restore_test_until_its_first_backup(
    service: Service, tmp_path: Path
) -> None:
    source = tmp_path / "letters"
    source.mkdir()
    (source / "letter.txt").write_text("dear sir\n")
    job_id = service.job("letters", [source])
    service.clock.advance((FIRST_MONTHLY_SLOT + timedelta(minutes=5) - service.clock.now()).total_seconds())

    before = schedule_verifications(service.sessions, service.clock.now())
    back_up(service, job_id)
    after = schedule_verifications(service.sessions, service.clock.now())

    kinds = {record.id: (record.kind, record.job_id) for record in _register(service)}
    assert all(kinds[identity][0] is VerificationKind.SCRUB for identity in before)
    assert [kinds[identity] for identity in after] == [(VerificationKind.RESTORE_TEST, job_id)]
