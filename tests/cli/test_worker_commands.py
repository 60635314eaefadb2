"""``resguardo worker --once``, ``job run``, ``job list`` and ``run list``, as real processes, on SQLite and
PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from resguardo.catalog import SecretKey, session_factory
from tests.catalog.conftest import catalog_url, engine, postgres_template, secret_key, sqlite_template
from tests.cli.conftest import run_subprocess
from tests.fixtures.service import PASSPHRASE, Service, make_tree

__all__ = ["catalog_url", "engine", "postgres_template", "secret_key", "sqlite_template"]


def test_job_run_then_worker_once_backs_the_job_up(
    catalog_url: str, engine: Engine, secret_key: SecretKey, tmp_path: Path
) -> None:
    service = Service(session_factory(engine), secret_key, tmp_path)
    service.job("documents", [make_tree(tmp_path / "tree")])
    options = ["--database-url", catalog_url, "--data-dir", str(tmp_path / "data")]
    environment = {"RESGUARDO_SECRET_KEY": secret_key.encoded()}

    listed = run_subprocess(["--json", "job", "list", *options], **environment)
    requested = run_subprocess(["job", "run", "documents", *options], **environment)
    worked = run_subprocess(["--json", "worker", "--once", *options], **environment)
    again = run_subprocess(["--json", "worker", "--once", *options], **environment)
    runs = run_subprocess(["--json", "run", "list", *options], **environment)

    assert listed.exit_code == 0, listed.stderr
    assert [job["name"] for job in listed.json()] == ["documents"]
    assert requested.exit_code == 0, requested.stderr
    assert "requested" in requested.stderr + requested.stdout
    assert worked.exit_code == 0, worked.stderr
    assert [run["state"] for run in worked.json()["runs"]] == ["succeeded"]
    assert again.json() == {"queued": [], "runs": []}
    [run] = runs.json()
    assert run["state"] == "succeeded" and run["trigger"] == "manual" and run["files"] == 3
    assert run["snapshot_id"]
    for outcome in (listed, requested, worked, again, runs):
        assert PASSPHRASE not in outcome.stdout + outcome.stderr


def test_job_run_of_an_unknown_job_says_so(
    catalog_url: str, engine: Engine, secret_key: SecretKey, tmp_path: Path
) -> None:
    outcome = run_subprocess(["job", "run", "nope", "--database-url", catalog_url])

    assert outcome.exit_code != 0
    assert "nope" in outcome.stderr and "Traceback" not in outcome.stderr


def test_worker_on_a_catalog_not_migrated_says_to_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    outcome = run_subprocess(
        ["worker", "--once", "--database-url", url], RESGUARDO_SECRET_KEY=SecretKey.generate().encoded()
    )

    assert outcome.exit_code != 0
    assert "resguardo db upgrade" in outcome.stderr and "Traceback" not in outcome.stderr
