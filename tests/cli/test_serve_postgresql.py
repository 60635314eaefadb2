"""``resguardo serve`` as a real process on a PostgreSQL catalog (``RESGUARDO_DATABASE_URL``): it migrates
the empty database, a job asked through the API runs, and a ``resguardo worker`` process beside it
shares the queue: both claim runs, and no run is run twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from resguardo.catalog import create_catalog_engine, session_factory
from resguardo.catalog.models import Run
from tests.cli.conftest import subprocess_env
from tests.cli.test_serve import (
    ADMIN_PASSWORD,
    LISTENING,
    START_TIMEOUT,
    Server,
    created,
    log_in,
    wait_for_run,
)
from tests.fixtures.postgres import PostgresCluster
from tests.fixtures.service import make_tree

JOBS_PER_BATCH = 6
MAX_BATCHES = 5
FILES_PER_TREE = 4
FILE_SIZE = 4 * 1024 * 1024


def _environment(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = subprocess_env(
        RESGUARDO_DATABASE_URL=database_url,
        RESGUARDO_ADMIN_PASSWORD=ADMIN_PASSWORD,
        RESGUARDO_CACHE_DIR=str(tmp_path / "cache"),
        RESGUARDO_TEST_KDF="fast",
    )
    for inherited in ("RESGUARDO_SECRET_KEY", "RESGUARDO_ADMIN_USER"):
        env.pop(inherited, None)
    return env


def _start(argv: list[str], env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / "stdout").open("wb") as stdout, (logs / "stderr").open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "resguardo", *argv], stdout=stdout, stderr=stderr, env=env
        )


def _wait_for_api(process: subprocess.Popen[bytes], logs: Path) -> Server:
    deadline = time.monotonic() + START_TIMEOUT
    stderr_path = logs / "stderr"
    while time.monotonic() < deadline:
        assert process.poll() is None, stderr_path.read_text()
        found = LISTENING.search(stderr_path.read_text(encoding="utf-8", errors="replace"))
        if found:
            try:
                if httpx.get(found.group(1) + "/healthz", timeout=5).status_code == 200:
                    return Server(process, found.group(1), logs / "stdout", stderr_path)
            except httpx.TransportError:
                pass
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"serve did not answer /healthz within {START_TIMEOUT} s:\n{stderr_path.read_text()}")


def _stop(process: subprocess.Popen[bytes], signal_number: int = signal.SIGTERM) -> int:
    """Stop ``process`` with ``signal_number`` (killing it after a minute); return its exit status."""
    if process.poll() is None:
        process.send_signal(signal_number)
        try:
            return process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def _big_tree(root: Path) -> Path:
    root.mkdir(parents=True)
    for number in range(FILES_PER_TREE):
        (root / f"part-{number}.bin").write_bytes(os.urandom(FILE_SIZE))
    return root


class Api:
    """The administrator's calls to the running service."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.headers = log_in(client)
        [self.repository] = client.get("/api/v1/repositories", headers=self.headers).json()["items"]
        self.machine = created(
            client.post("/api/v1/clients", json={"name": "here", "transport": "local"}, headers=self.headers)
        )
        [self.category, *_] = client.get("/api/v1/categories", headers=self.headers).json()["items"]

    def job(self, name: str, tree: Path) -> dict[str, Any]:
        body = {
            "name": name,
            "client_id": self.machine["id"],
            "repository_id": self.repository["id"],
            "category_id": self.category["id"],
            "source": {"kind": "paths", "paths": [str(tree)], "excludes": []},
            "schedule": {"kind": "daily", "at": "01:00"},
        }
        return created(self.client.post("/api/v1/jobs", json=body, headers=self.headers))

    def run_now(self, job_id: int) -> None:
        asked = self.client.post(f"/api/v1/jobs/{job_id}/run", headers=self.headers)
        assert asked.status_code == 202, asked.text


def _finished_runs(database_url: str) -> list[Run]:
    engine = create_catalog_engine(database_url)
    try:
        with session_factory(engine)() as session:
            return list(session.scalars(select(Run).order_by(Run.id)))
    finally:
        engine.dispose()


@pytest.mark.slow
def test_serve_on_postgresql_runs_a_job_asked_through_the_api_and_shares_the_queue_with_a_worker(
    tmp_path: Path, postgres_cluster: PostgresCluster
) -> None:
    database = postgres_cluster.create_database()
    database_url = postgres_cluster.url(database)
    data_dir = tmp_path / "data"
    env = _environment(tmp_path, database_url)
    serve = _start(["serve", "--data-dir", str(data_dir), "--port", "0"], env, tmp_path / "serve")
    worker: subprocess.Popen[bytes] | None = None
    try:
        server = _wait_for_api(serve, tmp_path / "serve")
        with httpx.Client(base_url=server.url, timeout=30) as client:
            api = Api(client)
            first = api.job("first", make_tree(tmp_path / "first"))
            api.run_now(first["id"])
            first_run = wait_for_run(client, api.headers, first["id"])
            assert first_run["state"] == "succeeded", first_run

            worker = _start(["worker", "--data-dir", str(data_dir)], env, tmp_path / "worker")
            workers_seen: set[str] = set()
            for batch in range(MAX_BATCHES):
                jobs = [
                    api.job(f"batch{batch}-{n}", _big_tree(tmp_path / f"b{batch}-{n}"))
                    for n in range(JOBS_PER_BATCH)
                ]
                for job in jobs:
                    api.run_now(job["id"])
                ended = [wait_for_run(client, api.headers, job["id"]) for job in jobs]
                assert {run["state"] for run in ended} == {"succeeded"}, ended
                workers_seen |= {run["worker_id"] for run in ended}
                if len(workers_seen) >= 2:
                    break
    finally:
        serve_status = _stop(serve)
        worker_status = _stop(worker, signal.SIGINT) if worker is not None else 0

    runs = _finished_runs(database_url)
    assert serve_status == 0, (tmp_path / "serve" / "stderr").read_text()
    assert worker_status in (0, 130), (tmp_path / "worker" / "stderr").read_text()
    assert len(workers_seen) == 2, "the worker process never claimed a run beside serve's worker"
    assert all(run.state == "succeeded" and run.attempt == 1 for run in runs)
    assert len({run.snapshot_id for run in runs}) == len(runs)
    snapshots = list((data_dir / "repositories" / "local" / "snapshots").rglob("*"))
    assert len([path for path in snapshots if path.is_file()]) == len(runs), "a run was run twice"
    assert "Traceback" not in (tmp_path / "worker" / "stderr").read_text()
