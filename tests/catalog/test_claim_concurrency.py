"""Several worker processes claiming at once never get the same run, nor two runs of one job."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from resguardo.catalog import SecretKey
from resguardo.catalog.enums import RunState, RunTrigger
from resguardo.catalog.models import Run
from resguardo.catalog.queries import create_job, create_repository, enqueue_run, find_category
from tests.catalog.conftest import NOW, Inventory

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4
CLAIMS_PER_PROCESS = 50
JOBS = 150
RUNS = 200  # 50 jobs have two queued runs: only one of them may run
REPOSITORIES = 3  # 50 jobs each, under the largest limit of concurrent runs (64)


@pytest.mark.slow
def test_four_processes_claiming_fifty_times_each_never_share_a_run(
    session: Session, inventory: Inventory, secret_key: SecretKey, catalog_url: str, tmp_path: Path
) -> None:
    repositories = [
        create_repository(
            session,
            secret_key,
            name=f"wide-{number}",
            url=f"/srv/wide-{number}",
            now=NOW,
            max_concurrent_runs=64,
        )
        for number in range(REPOSITORIES)
    ]
    category = find_category(session, "databases")
    jobs = [
        create_job(
            session,
            name=f"job-{number:03d}",
            client_id=inventory.client.id,
            repository_id=repositories[number % REPOSITORIES].id,
            category_id=category.id,
            now=NOW,
        )
        for number in range(JOBS)
    ]
    for number in range(RUNS):
        enqueue_run(session, jobs[number % JOBS].id, trigger=RunTrigger.SCHEDULED, now=NOW)
    session.commit()

    start_file = tmp_path / "start"
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.catalog.claim_helper",
                catalog_url,
                f"worker-{number}",
                str(CLAIMS_PER_PROCESS),
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
    claimed_by_worker = {}
    for number, process in enumerate(processes):
        stdout, stderr = process.communicate(timeout=240)
        assert process.returncode == 0, stderr
        claimed_by_worker[f"worker-{number}"] = json.loads(stdout)

    every_claim = [run_id for claims in claimed_by_worker.values() for run_id in claims]
    assert len(every_claim) == len(set(every_claim)), "a run was claimed twice"
    assert len(every_claim) == JOBS, "each job's first run is claimed, and no second one"

    session.expire_all()
    running = list(session.scalars(select(Run).where(Run.state == RunState.RUNNING)))
    assert sorted(run.id for run in running) == sorted(every_claim)
    assert len({run.job_id for run in running}) == JOBS
    for worker, claims in claimed_by_worker.items():
        assert {run.worker_id for run in running if run.id in claims} <= {worker}
