"""Every backup a worker runs is verified as its run ends: read back intact, compared with the last run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select

from resguardo.catalog import RunState, Verification, queries
from resguardo.catalog.models import Category, FailureEntry, Job, Run
from resguardo.engine.checker import CheckProblem, verify_written
from resguardo.engine.events import Reporter
from resguardo.engine.repository import Repository as EngineRepository
from resguardo.engine.repository import pack_name
from resguardo.jobs.scheduling_loop import schedule_pass
from resguardo.services import request_run_now
from resguardo.services.verification import CATEGORY_THRESHOLDS, thresholds_of
from resguardo.services.verification import run as verification_run
from tests.fixtures.service import Service

DAY = 86_400


def run_now(service: Service, job_id: int) -> Run:
    """Ask for a run of the job now, let a worker run it, and return the finished run."""
    with service.sessions() as session:
        request_run_now(session, job_id, None, service.clock.now())
    schedule_pass(service.sessions, service.clock.now())
    [(run_id, _state)] = service.worker().run_until_idle()
    with service.sessions() as session:
        return queries.get_run(session, run_id)


def many_files(root: Path, count: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        (root / f"file-{number:03}.txt").write_bytes(f"record {number}\n".encode() * 200)
    return root


def test_a_backup_after_most_files_were_deleted_warns_with_its_figures(
    service: Service, tmp_path: Path
) -> None:
    source = many_files(tmp_path / "data", 40)
    job_id = service.job("documents", [source])
    first = run_now(service, job_id)
    assert first.state is RunState.SUCCEEDED, first.error
    assert first.verification is Verification.VERIFIED
    assert first.verification_reasons == []
    assert first.verification_figures is not None and first.verification_figures["files"] == 40

    for path in sorted(source.iterdir())[:30]:
        path.unlink()
    service.clock.advance(DAY)
    second = run_now(service, job_id)

    assert second.state is RunState.SUCCEEDED
    assert second.verification is Verification.WARNINGS
    reasons = {reason["code"]: reason for reason in second.verification_reasons or []}
    assert set(reasons) == {"size_changed", "files_changed"}
    assert reasons["files_changed"]["message"] == "the backup has 75% fewer files than the last one (40 → 10)"
    assert reasons["files_changed"]["figures"]["before"] == 40
    assert "verification files_changed: the backup has 75% fewer files" in second.log
    with service.sessions() as session:
        warned = queries.list_runs(session, verification=Verification.WARNINGS).items
    assert [run.id for run in warned] == [second.id]


def test_damage_in_a_new_pack_before_its_read_back_fails_verification_naming_the_pack(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    damaged: list[str] = []
    real_verify = verify_written

    def damage_then_verify(
        repository: EngineRepository, pack_ids: list[bytes], snapshot_id: str, reporter: Reporter
    ) -> list[CheckProblem]:
        name = pack_name(pack_ids[0])
        path = Path(repository.storage.location) / name
        content = bytearray(path.read_bytes())
        content[len(content) // 2] ^= 0xFF
        path.write_bytes(bytes(content))
        damaged.append(name)
        return real_verify(repository, pack_ids, snapshot_id, reporter)

    monkeypatch.setattr(verification_run, "verify_written", damage_then_verify)
    job_id = service.job("damaged", [many_files(tmp_path / "data", 5)], max_retries=2)

    run = run_now(service, job_id)

    assert run.state is RunState.SUCCEEDED  # the snapshot exists; what it wrote is damaged
    assert run.verification is Verification.FAILED
    codes = [reason["code"] for reason in run.verification_reasons or []]
    assert codes and set(codes) == {"integrity_failed"}
    assert any(damaged[0] in reason["message"] for reason in run.verification_reasons or [])
    assert f"verification failed: pack {damaged[0]}" in run.log
    assert "verification failed" in run.error
    with service.sessions() as session:
        entries = list(session.scalars(select(FailureEntry)))
        queued = queries.list_runs(session, state=RunState.QUEUED).items
    assert [entry.run_id for entry in entries] == [run.id]
    assert queued == []  # no retry: it would only reuse the damaged data


def test_a_database_dump_identical_for_three_days_says_nothing_is_written_to_it(
    service: Service, tmp_path: Path
) -> None:
    database = tmp_path / "ledger.sqlite3"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY, body TEXT)")
        connection.executemany("INSERT INTO entries (body) VALUES (?)", [(f"entry {n}",) for n in range(50)])
    connection.close()
    job_id = service.job("ledger", [], source={"kind": "sqlite", "paths": [str(database)]})
    first_day = service.clock.now().date().isoformat()

    verdicts = []
    for _ in range(4):
        run = run_now(service, job_id)
        verdicts.append((run.verification, [reason["message"] for reason in run.verification_reasons or []]))
        service.clock.advance(DAY)

    expected = f"nothing seems to be written to `ledger.sqlite3`: its dump has not changed since {first_day}"
    assert verdicts[:3] == [(Verification.VERIFIED, [])] * 3
    assert verdicts[3] == (Verification.WARNINGS, [expected])


def test_the_seeded_categories_carry_the_documented_thresholds(service: Service) -> None:
    with service.sessions() as session:
        categories = {category.name: category for category in session.scalars(select(Category))}
        seeded = {name: thresholds_of(Job(), category) for name, category in categories.items()}

    assert seeded == dict(CATEGORY_THRESHOLDS)
