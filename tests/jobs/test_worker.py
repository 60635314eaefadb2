"""The worker and the scheduling loop together, on SQLite and PostgreSQL: jobs run by themselves."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from resguardo.backends import LocalStorage
from resguardo.catalog import RunState, RunTrigger, SecretName, queries
from resguardo.catalog.models import FailureEntry, Job, Run
from resguardo.engine.repository import Repository as EngineRepository
from resguardo.engine.restorer import restore
from resguardo.engine.snapshot import load_snapshot
from resguardo.jobs.scheduling_loop import ScheduleCache, schedule_pass
from resguardo.services import request_run_now
from tests.fixtures.service import FIRST_SLOT, PASSPHRASE, Service, make_tree


def _runs(service: Service) -> list[Run]:
    with service.sessions() as session:
        return list(session.scalars(select(Run).order_by(Run.id)))


def _failures(service: Service) -> list[FailureEntry]:
    with service.sessions() as session:
        return list(session.scalars(select(FailureEntry).order_by(FailureEntry.id)))


def _files_of(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()}


def test_a_due_job_is_queued_run_and_its_snapshot_restores_the_tree(service: Service, tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    job_id = service.job("documents", [tree])
    service.clock.advance((FIRST_SLOT - service.clock.now()).total_seconds() + 60)

    planned = schedule_pass(service.sessions, service.clock.now())
    done = service.worker().run_until_idle()

    assert len(planned.queued) == 1
    assert done == [(planned.queued[0], RunState.SUCCEEDED)]
    [run] = _runs(service)
    assert (run.job_id, run.trigger, run.schedule_slot) == (job_id, RunTrigger.SCHEDULED, FIRST_SLOT)
    assert run.snapshot_id and run.finished_at == service.clock.now()
    assert run.files == 3
    assert run.bytes_read == sum(len(data) for data in _files_of(tree).values())
    assert "snapshot" in run.log and run.error == ""
    with service.sessions() as session:
        record = queries.get_repository(session, queries.get_job(session, job_id).repository_id)
        assert record.initialized_at is not None
        location = record.url
    repository = EngineRepository.open(LocalStorage(location), PASSPHRASE.encode())
    restore(repository, load_snapshot(repository, run.snapshot_id), str(tmp_path / "restored"))
    assert _files_of(tmp_path / "restored" / str(tree).lstrip("/")) == _files_of(tree)
    assert schedule_pass(service.sessions, service.clock.now()).queued == []


def test_a_failed_run_opens_a_failure_is_retried_with_backoff_and_a_success_closes_it(
    service: Service, tmp_path: Path
) -> None:
    missing = tmp_path / "not-yet"
    job_id = service.job("late", [missing], retry_backoff_seconds=600, max_retries=3)
    with service.sessions() as session:
        request_run_now(session, job_id, None, service.clock.now())
    schedule_pass(service.sessions, service.clock.now())
    worker = service.worker()

    [(first_id, first_state)] = worker.run_until_idle()

    assert first_state is RunState.FAILED
    failed, retry = _runs(service)
    assert failed.id == first_id and str(missing) in failed.error
    assert (retry.state, retry.trigger, retry.attempt) == (RunState.QUEUED, RunTrigger.RETRY, 2)
    assert retry.not_before == service.clock.now() + timedelta(seconds=600)
    [entry] = _failures(service)
    assert entry.run_id == failed.id and entry.closed_at is None
    assert worker.run_until_idle() == []  # the retry waits for its backoff

    make_tree(missing)
    service.clock.advance(601)
    assert worker.run_until_idle() == [(retry.id, RunState.SUCCEEDED)]
    [entry] = _failures(service)
    assert entry.closed_by_run_id == retry.id and entry.closed_at == service.clock.now()


def test_a_source_kind_workers_cannot_run_fails_the_run_with_a_clear_error(
    service: Service, tmp_path: Path
) -> None:
    job_id = service.job("dump", [tmp_path], max_retries=0)
    with service.sessions() as session:  # a document stored before sources were checked
        session.execute(update(Job).where(Job.id == job_id).values(source={"kind": "ftp", "host": "x"}))
        session.commit()
    with service.sessions() as session:
        request_run_now(session, job_id, None, service.clock.now())
    schedule_pass(service.sessions, service.clock.now())

    [(_run_id, state)] = service.worker().run_until_idle()

    assert state is RunState.FAILED
    [run] = _runs(service)
    assert "source of kind 'ftp'" in run.error and "kind paths, postgresql" in run.error
    assert len(_failures(service)) == 1


def test_two_workers_never_run_the_same_run(service: Service, tmp_path: Path) -> None:
    job_ids = [service.job(f"job-{number}", [make_tree(tmp_path / f"tree-{number}")]) for number in range(6)]
    service.clock.advance((FIRST_SLOT - service.clock.now()).total_seconds() + 60)
    assert len(schedule_pass(service.sessions, service.clock.now()).queued) == len(job_ids)
    results: dict[str, list[tuple[int, RunState | None]]] = {}

    def work(worker_id: str) -> None:
        results[worker_id] = service.worker(worker_id).run_until_idle()

    threads = [threading.Thread(target=work, args=(name,)) for name in ("w1", "w2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    ran = [run_id for done in results.values() for run_id, _state in done]
    assert sorted(ran) == sorted(set(ran)) and len(ran) == len(job_ids)
    runs = _runs(service)
    assert {run.state for run in runs} == {RunState.SUCCEEDED}
    for worker_id, done in results.items():
        assert all(run.worker_id == worker_id for run in runs if run.id in {i for i, _ in done})


def test_a_dead_workers_run_is_failed_by_the_sweep_and_retried(service: Service, tmp_path: Path) -> None:
    job_id = service.job("orphan", [make_tree(tmp_path / "tree")], retry_backoff_seconds=0)
    with service.sessions() as session:
        request_run_now(session, job_id, None, service.clock.now())
    schedule_pass(service.sessions, service.clock.now())
    with service.sessions() as session:
        claimed = queries.claim_next_run(session, "dead-worker", service.clock.now())
    assert claimed is not None
    worker = service.worker(stale_timeout=timedelta(minutes=5))

    assert worker.run_until_idle() == []  # alive as far as anyone knows
    service.clock.advance(5 * 60 + 1)
    done = worker.run_until_idle()

    dead, retry = _runs(service)
    assert dead.id == claimed.id and dead.state is RunState.FAILED and "stopped reporting" in dead.error
    assert (retry.retry_of_id, retry.attempt) == (dead.id, 2)
    assert done == [(retry.id, RunState.SUCCEEDED)]
    [entry] = _failures(service)
    assert entry.run_id == dead.id and entry.closed_by_run_id == retry.id


def test_run_now_gives_exactly_one_run_even_with_two_schedulers(service: Service, tmp_path: Path) -> None:
    job_id = service.job("asked", [make_tree(tmp_path / "tree")])
    service.clock.advance((FIRST_SLOT - service.clock.now()).total_seconds() + 60)
    with service.sessions() as session:
        request_run_now(session, job_id, None, service.clock.now())
        request_run_now(session, job_id, None, service.clock.now())
    barrier = threading.Barrier(2)

    def scheduler() -> None:
        barrier.wait()
        schedule_pass(service.sessions, service.clock.now())

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    schedule_pass(service.sessions, service.clock.now())

    [run] = _runs(service)
    assert run.trigger is RunTrigger.MANUAL and run.schedule_slot == FIRST_SLOT  # it took the due slot
    service.worker().run_until_idle()
    assert schedule_pass(service.sessions, service.clock.now()).queued == []


def test_two_scheduling_passes_at_once_queue_a_due_slot_once(service: Service, tmp_path: Path) -> None:
    for number in range(5):
        service.job(f"job-{number}", [tmp_path])
    service.clock.advance((FIRST_SLOT - service.clock.now()).total_seconds() + 60)
    barrier = threading.Barrier(3)
    queued: list[int] = []

    def scheduler() -> None:
        barrier.wait()
        queued.extend(schedule_pass(service.sessions, service.clock.now()).queued)

    threads = [threading.Thread(target=scheduler) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    runs = _runs(service)
    assert len(runs) == 5 == len(queued)
    assert len({run.job_id for run in runs}) == 5


def test_a_cancelled_running_run_is_stopped_and_left_cancelled(service: Service, tmp_path: Path) -> None:
    from resguardo.jobs.worker import _Heartbeat
    from resguardo.services import RunProgress, RunStopped

    job_id = service.job("cancel-me", [make_tree(tmp_path / "tree")])
    with service.sessions() as session:
        request_run_now(session, job_id, None, service.clock.now())
    schedule_pass(service.sessions, service.clock.now())
    worker = service.worker("w1")
    with service.sessions() as session:
        run = queries.claim_next_run(session, "w1", service.clock.now())
        assert run is not None
        queries.cancel_running_run(session, run.id, service.clock.now())
        session.commit()
    heartbeat = _Heartbeat(service.sessions, run.id, worker.settings, service.clock)

    assert heartbeat.beat() is False
    try:
        heartbeat.report(RunProgress(bytes_read=1, files=1))
    except RunStopped:
        stopped = True
    else:
        stopped = False
    assert stopped
    [row] = _runs(service)
    assert row.state is RunState.CANCELLED


def test_no_secret_reaches_the_logs_or_the_run_rows(service: Service, tmp_path: Path, caplog: object) -> None:
    import logging

    from sqlalchemy import MetaData, text

    good = service.job("good", [make_tree(tmp_path / "tree")])
    bad = service.job("bad", [tmp_path / "missing"], max_retries=0)
    with service.sessions() as session:
        request_run_now(session, good, None, service.clock.now())
        request_run_now(session, bad, None, service.clock.now())
    with caplog.at_level(logging.DEBUG):  # type: ignore[attr-defined]
        schedule_pass(service.sessions, service.clock.now())
        service.worker().run_until_idle()

    assert PASSPHRASE not in caplog.text  # type: ignore[attr-defined]
    dumped = []
    with service.sessions() as session:
        metadata = MetaData()
        metadata.reflect(bind=session.get_bind())
        for table in metadata.sorted_tables:
            dumped.extend(repr(tuple(row)) for row in session.execute(text(f"SELECT * FROM {table.name}")))
        assert queries.reveal_secret(session, service.secret_key, 1, SecretName.PASSPHRASE) == PASSPHRASE
    everything = "\n".join(dumped)
    assert "snapshot" in everything  # the run logs are there ...
    assert PASSPHRASE not in everything  # ... and no passphrase
    assert PASSPHRASE.encode().hex() not in everything


def test_a_file_that_cannot_be_read_makes_a_partial_run_that_names_it(
    service: Service, tmp_path: Path
) -> None:
    import pytest

    write_only = Path("/sys/bus/pci/rescan")  # a regular sysfs file without read: EACCES even for root
    try:
        with write_only.open("rb") as stream:
            stream.read(1)
    except PermissionError:
        pass
    except OSError:
        pytest.skip("no write-only sysfs file here")
    else:
        pytest.skip("the write-only sysfs file can be read here")
    job_id = service.job("mixed", [make_tree(tmp_path / "tree"), write_only])
    with service.sessions() as session:
        request_run_now(session, job_id, None, service.clock.now())
    schedule_pass(service.sessions, service.clock.now())

    [(_run_id, state)] = service.worker().run_until_idle()

    assert state is RunState.PARTIAL
    [run] = _runs(service)
    assert run.snapshot_id and run.files >= 3
    assert "1 file(s) could not be read" in run.error
    assert f"warning: {write_only}: permission denied" in run.log
    assert _failures(service) == []  # a partial run opens no failure entry, and closes none


def test_a_repository_gone_from_its_storage_fails_the_run_instead_of_starting_afresh(
    service: Service, tmp_path: Path
) -> None:
    import shutil

    job_id = service.job("vanishing", [make_tree(tmp_path / "tree")], max_retries=0)
    worker = service.worker()
    with service.sessions() as session:
        request_run_now(session, job_id, None, service.clock.now())
    schedule_pass(service.sessions, service.clock.now())
    assert [state for _id, state in worker.run_until_idle()] == [RunState.SUCCEEDED]
    shutil.rmtree(tmp_path / "repo-for-vanishing")

    with service.sessions() as session:
        request_run_now(session, job_id, None, service.clock.now())
    schedule_pass(service.sessions, service.clock.now())
    assert [state for _id, state in worker.run_until_idle()] == [RunState.FAILED]

    assert "is missing from" in _runs(service)[-1].error
    assert not (tmp_path / "repo-for-vanishing").exists()


def test_a_loop_sees_a_schedule_changed_at_the_very_moment_it_read_the_old_one(
    service: Service, tmp_path: Path
) -> None:
    job_id = service.job("documents", [make_tree(tmp_path / "tree")])
    cache = ScheduleCache()
    assert schedule_pass(service.sessions, service.clock.now(), cache).queued == []
    assert len(cache) == 1
    with service.sessions() as session:
        queries.update_job(
            session,
            job_id,
            {"schedule": {"kind": "interval", "every": 10, "unit": "minutes"}},
            now=service.clock.now(),
        )
        session.commit()
    service.clock.advance(11 * 60)

    [run_id] = schedule_pass(service.sessions, service.clock.now(), cache).queued

    with service.sessions() as session:
        run = queries.get_run(session, run_id)
        assert run.schedule_slot is not None and run.schedule_slot < FIRST_SLOT
    assert len(cache) == 1  # the entry of the old schedule is gone
