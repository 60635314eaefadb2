"""``resguardo serve`` as a real process on a loopback port: first start, a job run through the API by the
worker thread, a second start, SIGTERM.

On the embedded SQLite catalog only (the default of ``serve``); the worker and the API are tested on
PostgreSQL by their own tests.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.conftest import subprocess_env
from tests.fixtures.service import make_tree

ADMIN_PASSWORD = "a long test password for the administrator"
START_TIMEOUT = 60.0
RUN_TIMEOUT = 90.0
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


@dataclass
class Server:
    """A running ``resguardo serve`` process and where it listens."""

    process: subprocess.Popen[bytes]
    url: str
    stdout_path: Path
    stderr_path: Path

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def terminate(self) -> int:
        """Send SIGTERM and return the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


def start_server(data_dir: Path, logs: Path, **environment: str) -> Server:
    """Start ``resguardo serve`` on a free loopback port; return once /healthz answers 200."""
    logs.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = logs / "stdout", logs / "stderr"
    env = subprocess_env(**environment)
    for inherited in ("RESGUARDO_DATABASE_URL", "RESGUARDO_SECRET_KEY", "RESGUARDO_ADMIN_USER"):
        env.pop(inherited, None)
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "resguardo", "serve", "--data-dir", str(data_dir), "--port", "0"],
            stdout=stdout,
            stderr=stderr,
            env=env,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, stderr_path.read_text()
        found = LISTENING.search(stderr_path.read_text(encoding="utf-8", errors="replace"))
        if found:
            try:
                if httpx.get(found.group(1) + "/healthz", timeout=5).status_code == 200:
                    return Server(process, found.group(1), stdout_path, stderr_path)
            except httpx.TransportError:
                pass
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"serve did not answer /healthz within {START_TIMEOUT} s:\n{stderr_path.read_text()}")


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    """Collect the servers a test starts, and kill any still running at its end."""
    started: list[Server] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


def log_in(client: httpx.Client) -> dict[str, str]:
    """Log in as the administrator, make an API token as the printed instructions say; return its header."""
    login = client.post("/api/v1/session", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert login.status_code == 200, login.text
    made = client.post(
        "/api/v1/tokens", json={"name": "test"}, headers={"X-CSRF-Token": login.json()["csrf_token"]}
    )
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['token']}"}


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


def wait_for_run(client: httpx.Client, headers: dict[str, str], job_id: int) -> dict[str, Any]:
    """Poll /api/v1/runs until the job's run ends; return it."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        runs = client.get("/api/v1/runs", params={"job_id": job_id}, headers=headers).json()["items"]
        if runs and runs[0]["state"] not in ("queued", "running"):
            run: dict[str, Any] = runs[0]
            return run
        time.sleep(0.5)
    pytest.fail(f"the run of job {job_id} did not end within {RUN_TIMEOUT} s")


def test_serve_runs_a_job_asked_through_the_api_and_restarts_without_a_second_administrator(
    tmp_path: Path, servers: list[Server]
) -> None:
    data_dir = tmp_path / "data"
    environment = {
        "RESGUARDO_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "RESGUARDO_CACHE_DIR": str(tmp_path / "cache"),
        "RESGUARDO_TEST_KDF": "fast",
    }
    tree = make_tree(tmp_path / "tree")

    first = start_server(data_dir, tmp_path / "first", **environment)
    servers.append(first)
    with httpx.Client(base_url=first.url, timeout=30) as client:
        headers = log_in(client)
        [repository] = client.get("/api/v1/repositories", headers=headers).json()["items"]
        [machine] = client.get("/api/v1/clients", headers=headers).json()["items"]
        [category, *_] = client.get("/api/v1/categories", headers=headers).json()["items"]
        job = created(
            client.post(
                "/api/v1/jobs",
                json={
                    "name": "tree",
                    "client_id": machine["id"],
                    "repository_id": repository["id"],
                    "category_id": category["id"],
                    "source": {"kind": "paths", "paths": [str(tree)], "excludes": []},
                    "schedule": {"kind": "daily", "at": "01:00"},
                },
                headers=headers,
            )
        )
        asked = client.post(f"/api/v1/jobs/{job['id']}/run", headers=headers)
        run = wait_for_run(client, headers, job["id"])
    first_status = first.terminate()

    assert repository["name"] == "local" and repository["has_passphrase"]
    assert machine["name"] == socket.gethostname() and machine["transport"] == "local"
    assert Path(repository["url"]).parent.parent == data_dir.resolve()
    assert asked.status_code == 202, asked.text
    assert run["state"] == "succeeded", run
    assert run["snapshot_id"] and run["files"] == 3
    assert (data_dir / "repositories" / "local" / "config").exists()
    assert first_status == 0, first.stderr()
    assert "Created the administrator 'admin'" in first.stdout()
    assert ADMIN_PASSWORD not in first.stdout() + first.stderr()

    second = start_server(data_dir, tmp_path / "second", **environment)
    servers.append(second)
    with httpx.Client(base_url=second.url, timeout=30) as client:
        headers = log_in(client)
        users = client.get("/api/v1/users", headers=headers).json()
        repositories = client.get("/api/v1/repositories", headers=headers).json()
        clients = client.get("/api/v1/clients", headers=headers).json()
    second_status = second.terminate()

    assert [user["username"] for user in users["items"]] == ["admin"]
    assert repositories["total"] == 1
    assert clients["total"] == 1
    assert second_status == 0, second.stderr()
    assert "administrator" not in second.stdout() and "password" not in second.stdout().lower()


def test_serve_prints_a_generated_administrator_password_once_and_it_logs_in(
    tmp_path: Path, servers: list[Server]
) -> None:
    data_dir = tmp_path / "data"
    first = start_server(data_dir, tmp_path / "first", RESGUARDO_CACHE_DIR=str(tmp_path / "cache"))
    servers.append(first)
    printed = re.search(r"shown this once: (\S+)", first.stdout())
    assert printed, first.stdout()
    with httpx.Client(base_url=first.url, timeout=30) as client:
        login = client.post("/api/v1/session", json={"username": "admin", "password": printed.group(1)})
    assert first.terminate() == 0
    second = start_server(data_dir, tmp_path / "second", RESGUARDO_CACHE_DIR=str(tmp_path / "cache"))
    servers.append(second)
    assert second.terminate() == 0

    assert login.status_code == 200, login.text
    assert f"Open {first.url}/ in a browser" in first.stdout()
    assert f"resguardo login --server {first.url}" in first.stdout()
    assert printed.group(1) not in first.stderr()
    assert second.stdout() == ""
    assert printed.group(1) not in second.stderr()


def test_serve_on_a_port_in_use_says_so(tmp_path: Path, servers: list[Server]) -> None:
    first = start_server(tmp_path / "data", tmp_path / "first", RESGUARDO_ADMIN_PASSWORD=ADMIN_PASSWORD)
    servers.append(first)
    port = first.url.rsplit(":", 1)[1]
    env = subprocess_env(RESGUARDO_ADMIN_PASSWORD=ADMIN_PASSWORD)
    env.pop("RESGUARDO_DATABASE_URL", None)
    taken = subprocess.run(
        [sys.executable, "-m", "resguardo", "serve", "--data-dir", str(tmp_path / "other"), "--port", port],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    first.terminate()

    stderr = taken.stderr.decode()
    assert taken.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in stderr and "Traceback" not in stderr


def test_serve_refuses_a_short_administrator_password(tmp_path: Path) -> None:
    env = subprocess_env(RESGUARDO_ADMIN_PASSWORD="short")
    env.pop("RESGUARDO_DATABASE_URL", None)
    env.pop("RESGUARDO_SECRET_KEY", None)
    refused = subprocess.run(
        [sys.executable, "-m", "resguardo", "serve", "--data-dir", str(tmp_path / "data"), "--port", "0"],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )

    stderr = refused.stderr.decode()
    assert refused.returncode != 0
    assert "at least" in stderr and "Traceback" not in stderr and "short" not in stderr.split("error:")[-1]
    assert os.path.exists(tmp_path / "data" / "catalog.sqlite3")
