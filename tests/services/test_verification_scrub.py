"""Rotating scrubs of real local repositories, run by the scheduler and workers on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import update

from resguardo.catalog import VerificationKind, VerificationState, VerificationTrigger, queries
from resguardo.catalog.models import Job, Verification
from resguardo.jobs.scheduling_loop import schedule_pass
from resguardo.services.verification import plan_slice
from tests.fixtures.service import Service
from tests.services.verification_helpers import (
    back_up,
    finished,
    flip_bytes,
    pack_ids,
    pack_path,
    random_tree,
    small_pack_repository,
    verify,
)

FIRST_SUNDAY = datetime(2026, 3, 8, 3, 1, tzinfo=UTC)  # the first weekly slot after the repository's creation


def _pause(service: Service, job_id: int, paused: bool = True) -> None:
    with service.sessions() as session:
        session.execute(update(Job).where(Job.id == job_id).values(paused=paused))
        session.commit()


def _weekly_scrub(service: Service, week: int) -> Verification:
    """Move the clock to the ``week``-th Sunday slot, let the scheduler queue and a fresh worker run."""
    service.clock.advance((FIRST_SUNDAY + timedelta(weeks=week) - service.clock.now()).total_seconds())
    planned = schedule_pass(service.sessions, service.clock.now())
    assert len(planned.verifications) == 1
    service.worker(f"worker-week-{week}").run_until_idle()
    record = finished(service)[-1]
    assert record.id == planned.verifications[0]
    assert (record.kind, record.trigger) == (VerificationKind.SCRUB, VerificationTrigger.SCHEDULE)
    return record


def _read_by(record: Verification, stored_then: set[str]) -> set[str]:
    """Return the packs a scrub read: those stored at its time within its slice's range."""
    chosen = record.evidence["slice"]
    if chosen["packs"] == 0:
        return set()
    read = {pack for pack in stored_then if chosen["first_pack"] <= pack <= chosen["last_pack"]}
    assert len(read) == chosen["packs"]
    return read


def test_weekly_scrubs_read_every_pack_once_per_cycle_across_worker_restarts(
    service: Service, tmp_path: Path
) -> None:
    repository_id, location = small_pack_repository(service, "rotating")
    first = service.job(
        "first", [random_tree(tmp_path / "one", 16, 400_000, seed=1)], repository_id=repository_id
    )
    assert back_up(service, first).snapshot_id
    _pause(service, first)
    at_start = pack_ids(location)
    assert len(at_start) >= 6
    read_in_cycle: list[set[str]] = []
    for week in range(4):
        stored_then = pack_ids(location)
        record = _weekly_scrub(service, week)
        assert record.state is VerificationState.PASSED, record.summary
        read_in_cycle.append(_read_by(record, stored_then))
        if week == 0:
            share = record.evidence["slice"]["bytes"] / sum(
                (location / "data" / p[:2] / p).stat().st_size for p in at_start
            )
            assert share >= 0.25  # a quarter or more each week over a 30-day period
            cursor = max(read_in_cycle[0])
            second = service.job(
                "second", [random_tree(tmp_path / "two", 8, 400_000, seed=2)], repository_id=repository_id
            )
            back_up(service, second)
            _pause(service, second)
            added = pack_ids(location) - at_start
    assert record.evidence["cycle_progress"]["complete"] is True
    every_read = [pack for packs in read_in_cycle for pack in packs]
    assert len(every_read) == len(set(every_read))  # no pack twice in a cycle
    assert at_start <= set(every_read)  # every pack of the cycle's start
    assert set(every_read) - at_start == {pack for pack in added if pack > cursor}
    later = _weekly_scrub(service, 4)
    assert later.evidence["cycle"] == 2 and later.evidence["slice"]["packs"] >= 1


def test_a_flipped_byte_in_a_pack_is_found_within_the_cycle_and_marks_the_runs_of_its_job(
    service: Service, tmp_path: Path
) -> None:
    repository_id, location = small_pack_repository(service, "shared")
    alpha = service.job(
        "alpha", [random_tree(tmp_path / "a", 10, 400_000, seed=3)], repository_id=repository_id
    )
    alpha_run = back_up(service, alpha)
    alpha_packs = pack_ids(location)
    beta = service.job(
        "beta", [random_tree(tmp_path / "b", 10, 400_000, seed=4)], repository_id=repository_id
    )
    beta_run = back_up(service, beta)
    _pause(service, alpha)
    _pause(service, beta)
    damaged = max(alpha_packs, key=lambda pack: pack_path(location, pack).stat().st_size)
    flip_bytes(pack_path(location, damaged), pack_path(location, damaged).stat().st_size // 2)

    records = []
    for week in range(4):
        stored_then = pack_ids(location)
        records.append(_weekly_scrub(service, week))
        if damaged in _read_by(records[-1], stored_then):
            break
    found = records[-1]

    assert [record.state for record in records[:-1]] == [VerificationState.PASSED] * (len(records) - 1)
    assert found.state is VerificationState.FAILED
    assert found.evidence["jobs_affected"] == ["alpha"]
    [affected] = found.evidence["affected"]
    assert affected["snapshot"] == str(alpha_run.snapshot_id)[:8]
    assert affected["runs"] == [{"run": alpha_run.id, "job": "alpha"}]
    assert any(damaged[:16] in problem for problem in found.evidence["problems"])
    assert "alpha" in found.summary and found.bytes_read > 0 and found.packs_read >= 1
    with service.sessions() as session:
        marked, clean = queries.get_run(session, alpha_run.id), queries.get_run(session, beta_run.id)
        assert marked.damaged_at == service.clock.now() and "damaged path" in marked.damage
        assert clean.damaged_at is None and clean.damage == ""


def test_a_manual_scrub_runs_now_and_records_who_asked(service: Service, tmp_path: Path) -> None:
    repository_id, _location = small_pack_repository(service, "manual")
    job = service.job("docs", [random_tree(tmp_path / "d", 3, 50_000, seed=5)], repository_id=repository_id)
    back_up(service, job)

    record = verify(service, repository_id=repository_id)

    assert (record.state, record.trigger, record.requested_by) == (
        VerificationState.PASSED,
        VerificationTrigger.MANUAL,
        "tester",
    )
    assert record.started_at is not None and record.finished_at is not None
    assert record.evidence["counts"]["snapshots"] == 1 and record.evidence["duration_seconds"] >= 0


def test_a_slice_spreads_the_bytes_left_over_the_scrubs_left_and_takes_new_packs_after_the_cursor() -> None:
    stored = {bytes([number]) * 32: 100 for number in range(1, 41)}
    now = datetime(2026, 1, 4, 3, 0, tzinfo=UTC)
    period, weekly = timedelta(days=30), timedelta(days=7)

    first = plan_slice(None, stored, now, period, weekly)
    stored[b"\xff" * 32] = 100  # a pack added after the cursor: read in this cycle
    stored[b"\x00" * 32] = 100  # one before it: read in the next
    second = plan_slice(first.progress, stored, now + weekly, period, weekly)

    assert len(first.packs) == 10 and first.progress["cycle"] == 1  # 40 packs over 4 weekly scrubs
    assert second.packs[0] > first.packs[-1] and len(second.packs) == 11  # 31 left over 3 scrubs
    third = plan_slice(second.progress, stored, now + 2 * weekly, period, weekly)
    fourth = plan_slice(third.progress, stored, now + 3 * weekly, period, weekly)
    assert fourth.cycle_complete and b"\xff" * 32 in fourth.packs
    read = first.packs + second.packs + third.packs + fourth.packs
    assert len(read) == len(set(read)) == 41 and b"\x00" * 32 not in read
    fifth = plan_slice(fourth.progress, stored, now + 4 * weekly, period, weekly)
    assert fifth.progress["cycle"] == 2 and fifth.packs[0] == b"\x00" * 32
