"""A repository never has more running runs than its ``max_concurrent_runs``, however many workers claim."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from resguardo.catalog import SecretKey, session_factory
from resguardo.catalog.enums import RunState, RunTrigger
from resguardo.catalog.models import Job, Repository, Run
from resguardo.catalog.queries import (
    claim_next_run,
    create_job,
    create_repository,
    enqueue_run,
    find_category,
    finish_run,
    update_repository,
)
from resguardo.core.errors import UsageError
from tests.catalog.conftest import NOW, Inventory

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4
NARROW_JOBS = 40
WIDE_JOBS = 20
THREADS = 6
ROUNDS = 25


def _repository(session: Session, secret_key: SecretKey, name: str, limit: int | None = None) -> Repository:
    options = {} if limit is None else {"max_concurrent_runs": limit}
    return create_repository(session, secret_key, name=name, url=f"/srv/{name}", now=NOW, **options)


def _jobs(session: Session, inventory: Inventory, repository: Repository, count: int) -> list[Job]:
    category = find_category(session, "databases")
    return [
        create_job(
            session,
            name=f"{repository.name}-{number:02d}",
            client_id=inventory.client.id,
            repository_id=repository.id,
            category_id=category.id,
            now=NOW,
        )
        for number in range(count)
    ]


def _queue(session: Session, jobs: list[Job], offset: timedelta = timedelta(0)) -> list[int]:
    runs = [
        enqueue_run(session, job.id, trigger=RunTrigger.MANUAL, now=NOW, not_before=NOW + offset)
        for job in jobs
    ]
    session.commit()
    return [run.id for run in runs]


def _running_by_repository(session: Session) -> dict[int, int]:
    session.expire_all()
    statement = select(Job.repository_id, Run.id).join(Job, Job.id == Run.job_id)
    counts: dict[int, int] = {}
    for repository_id, _run_id in session.execute(statement.where(Run.state == RunState.RUNNING)):
        counts[repository_id] = counts.get(repository_id, 0) + 1
    return counts


def test_a_run_beyond_the_limit_stays_queued_and_other_repositories_are_claimed_past_it(
    session: Session, inventory: Inventory, secret_key: SecretKey
) -> None:
    narrow = _repository(session, secret_key, "narrow", 1)
    other = _repository(session, secret_key, "other")
    first, held_back = _queue(session, _jobs(session, inventory, narrow, 2))
    [past] = _queue(session, _jobs(session, inventory, other, 1), timedelta(minutes=1))

    claims = [claim_next_run(session, f"worker-{number}", NOW + timedelta(hours=1)) for number in range(3)]

    assert [run.id if run else None for run in claims] == [first, past, None]
    assert session.get(Run, held_back, populate_existing=True).state is RunState.QUEUED  # type: ignore[union-attr]
    finish_run(session, first, "worker-0", RunState.SUCCEEDED, NOW + timedelta(hours=1))
    session.commit()
    again = claim_next_run(session, "worker-3", NOW + timedelta(hours=1))
    assert again is not None and again.id == held_back


def test_a_repository_takes_two_runs_at_once_by_default_and_its_limit_can_be_raised(
    session: Session, inventory: Inventory, secret_key: SecretKey
) -> None:
    shared = _repository(session, secret_key, "shared")
    _queue(session, _jobs(session, inventory, shared, 4))
    later = NOW + timedelta(hours=1)

    claimed = [claim_next_run(session, f"worker-{number}", later) for number in range(3)]
    assert shared.max_concurrent_runs == 2
    assert [run is not None for run in claimed] == [True, True, False]

    update_repository(session, shared.id, {"max_concurrent_runs": 3}, now=later)
    session.commit()
    assert claim_next_run(session, "worker-3", later) is not None
    assert claim_next_run(session, "worker-4", later) is None
    assert _running_by_repository(session) == {shared.id: 3}


@pytest.mark.parametrize("limit", [0, 65, -1, True, "2"])
def test_a_limit_out_of_range_is_refused_naming_the_field(
    session: Session, secret_key: SecretKey, limit: object
) -> None:
    with pytest.raises(UsageError) as caught:
        _repository(session, secret_key, "bad", limit)  # type: ignore[arg-type]
    assert "max_concurrent_runs" in caught.value.message and "from 1 to 64" in caught.value.message


@pytest.mark.slow
def test_four_processes_claiming_at_once_never_run_two_runs_in_a_repository_limited_to_one(
    session: Session, inventory: Inventory, secret_key: SecretKey, catalog_url: str, tmp_path: Path
) -> None:
    narrow = _repository(session, secret_key, "narrow", 1)
    wide = _repository(session, secret_key, "wide", 64)
    narrow_runs = set(_queue(session, _jobs(session, inventory, narrow, NARROW_JOBS)))
    wide_runs = set(_queue(session, _jobs(session, inventory, wide, WIDE_JOBS), timedelta(minutes=1)))

    start_file = tmp_path / "start"
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.catalog.claim_helper",
                catalog_url,
                f"worker-{number}",
                str(NARROW_JOBS),
                str(start_file),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for number in range(PROCESSES)
    ]
    start_file.touch()
    every_claim: list[int] = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=240)
        assert process.returncode == 0, stderr
        every_claim.extend(json.loads(stdout))

    assert len(every_claim) == len(set(every_claim)), "a run was claimed twice"
    assert len(narrow_runs & set(every_claim)) == 1, "the repository limited to one got more than one run"
    assert wide_runs <= set(every_claim), "the runs of the other repository did not all proceed"
    assert _running_by_repository(session) == {narrow.id: 1, wide.id: WIDE_JOBS}


def test_threads_released_together_round_after_round_never_run_two_runs_in_a_repository_limited_to_one(
    session: Session, inventory: Inventory, secret_key: SecretKey, engine: Engine
) -> None:
    narrow = _repository(session, secret_key, "narrow", 1)
    jobs = _jobs(session, inventory, narrow, THREADS)
    sessions = session_factory(engine)
    barrier = threading.Barrier(THREADS)
    later = NOW + timedelta(hours=1)
    claimed_per_round: list[list[int]] = []

    for _round in range(ROUNDS):
        _queue(session, jobs)
        claims: list[int] = []

        def claim(worker_id: str, claims: list[int] = claims) -> None:
            with sessions() as own:
                barrier.wait()
                run = claim_next_run(own, worker_id, later)
                if run is not None:
                    claims.append(run.id)

        threads = [threading.Thread(target=claim, args=(f"worker-{n}",)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        claimed_per_round.append(claims)
        for run in session.scalars(select(Run).where(Run.state.in_([RunState.QUEUED, RunState.RUNNING]))):
            run.state = RunState.CANCELLED
        session.commit()

    assert [len(claims) for claims in claimed_per_round] == [1] * ROUNDS
