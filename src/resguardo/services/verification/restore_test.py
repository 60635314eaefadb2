"""A restore test of a job: restore its latest backup somewhere private and compare it with the record.

Files: the latest snapshot (or a random sample of its files, when it holds more than the job's sample
size) is restored into a private sandbox folder, every restored file is cut and hashed again and
compared with the chunk IDs the snapshot recorded
(:func:`resguardo.engine.restorer.compare.content_mismatch`), and the sandbox is removed. Databases:
each dump is restored into a scratch database on the test server configured for its kind
(:mod:`resguardo.sources.scratch`), its tables' rows are counted and compared with the counts recorded
at backup time when the stream has them, and the scratch database is dropped. A dump shorter than the
size recorded, or that its restore tool refuses, fails the test.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from resguardo.catalog import SecretKey, VerificationState, queries
from resguardo.catalog.models import Verification
from resguardo.core.errors import IntegrityError, NotFound, ResguardoError
from resguardo.engine.browse import open_file, walk_snapshot
from resguardo.engine.repository import Repository
from resguardo.engine.restorer import restore
from resguardo.engine.restorer.compare import content_mismatch
from resguardo.engine.snapshot import Snapshot, load_snapshot
from resguardo.services.repositories import opened_repository
from resguardo.services.verification.outcome import (
    MAX_LISTED,
    ProgressReporter,
    VerificationOutcome,
    VerificationProgress,
    state_of,
)
from resguardo.sources.addresses import parse_address
from resguardo.sources.scratch import CountedChunks, restore_and_count

SERVER_KIND = {"postgresql.database": "postgresql", "mysql.database": "mysql"}


def run_restore_test(
    session: Session,
    secret_key: SecretKey,
    verification: Verification,
    reporter: ProgressReporter,
    now: datetime,
    *,
    cache_directory: str | None = None,
) -> VerificationOutcome:
    """Restore-test the latest backup of the verification's job; return the outcome.
    ``cache_directory``: the engine's metadata cache (None: none).

    Raises:
        NotFound: the job has no backup yet.
        ResguardoError: the repository cannot be opened, or the snapshot read.
    """
    assert verification.job_id is not None
    job = queries.get_job(session, verification.job_id)
    run = queries.latest_snapshot_run(session, job.id)
    if run is None or run.snapshot_id is None:
        raise NotFound(f"job {job.name!r} has no backup to test yet", "run the job first, then test it")
    servers = _servers(session, secret_key)
    with opened_repository(
        session, secret_key, job.repository_id, now, create=False, cache_directory=cache_directory
    ) as (repository, _c, _n):
        try:
            snapshot = load_snapshot(repository, run.snapshot_id)
            if snapshot.streams:
                outcome = _test_databases(repository, snapshot, servers, verification.id)
            else:
                outcome = _test_files(repository, snapshot, job.restore_test_sample_files, reporter)
        except IntegrityError as error:
            message = f"snapshot {run.snapshot_id[:8]} cannot be read: {error.message}"
            outcome = VerificationOutcome(VerificationState.FAILED, message, {"problems": [message]}, message)
    outcome.snapshot_id = run.snapshot_id
    outcome.run_id = run.id
    if outcome.state is VerificationState.FAILED:
        queries.mark_damaged_runs(
            session, job.repository_id, {run.snapshot_id: f"restore test: {outcome.summary}"[:4000]}, now
        )
    return outcome


def _servers(session: Session, secret_key: SecretKey) -> dict[str, tuple[str, str]]:
    found = {}
    for kind in queries.RESTORE_TEST_SERVER_KINDS:
        try:
            found[kind] = queries.restore_test_server(session, secret_key, kind)
        except NotFound:
            continue
    return found


def _test_files(
    repository: Repository, snapshot: Snapshot, sample_size: int, reporter: ProgressReporter
) -> VerificationOutcome:
    files = [(path, node) for path, node in walk_snapshot(repository, snapshot) if node.type == "file"]
    sampled = len(files) > sample_size
    chosen = (
        sorted(secrets.SystemRandom().sample(files, sample_size), key=lambda item: item[0])
        if sampled
        else files
    )
    sandbox = tempfile.mkdtemp(prefix="resguardo-restore-test-")
    problems: list[str] = []
    compared = 0
    size = 0
    try:
        includes = [path for path, _node in chosen] if sampled else []
        result = restore(repository, snapshot, sandbox, includes=includes)
        problems.extend(f"{path}: damaged in the repository" for path in result.damaged)
        problems.extend(f"{path}: {message}" for path, message in result.errors)
        for path, node in chosen:
            restored = os.path.join(sandbox, path.lstrip("/"))
            try:
                mismatch = content_mismatch(repository, restored, node)
            except OSError as error:
                mismatch = f"cannot be read back: {error.strerror or error}"
            if mismatch is not None:
                problems.append(f"{path}: {mismatch}")
            compared += 1
            size += node.size
            reporter(VerificationProgress(bytes_read=size, files_restored=compared))
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)
    evidence = {
        "snapshot": snapshot.id,
        "snapshot_time": snapshot.time.isoformat(),
        "files_in_snapshot": len(files),
        "files_restored": compared,
        "bytes_restored": size,
        "sampled": sampled,
        "sample_size": sample_size,
        "compared": "content hash of every restored file against the chunk IDs recorded in the snapshot",
        "problems": problems[:MAX_LISTED],
        "files": [path for path, _node in chosen[:MAX_LISTED]],
    }
    which = f"a sample of {compared} of {len(files)} files" if sampled else f"{compared} file(s)"
    verdict = f"{len(problems)} problem(s)" if problems else "every file matches its recorded hash"
    return VerificationOutcome(
        state_of(problems, []),
        f"restored {which} ({size} bytes) of snapshot {snapshot.short_id}: {verdict}",
        evidence,
        error="; ".join(problems[:3]),
        bytes_read=size,
        files_restored=compared,
    )


def _test_databases(
    repository: Repository, snapshot: Snapshot, servers: dict[str, tuple[str, str]], verification_id: int
) -> VerificationOutcome:
    problems: list[str] = []
    warnings: list[str] = []
    tested = []
    total = 0
    for number, stream in enumerate(snapshot.streams, start=1):
        found, warned, detail = _test_stream(
            repository, snapshot, stream, servers, f"{verification_id}_{number}"
        )
        problems.extend(found)
        warnings.extend(warned)
        tested.append(detail)
        total += int(detail.get("bytes_restored", 0))
    evidence = {
        "snapshot": snapshot.id,
        "snapshot_time": snapshot.time.isoformat(),
        "databases": tested[:MAX_LISTED],
        "problems": problems[:MAX_LISTED],
        "warnings": warnings[:MAX_LISTED],
    }
    verdict = f"{len(problems)} problem(s)" if problems else "restored and sane"
    return VerificationOutcome(
        state_of(problems, warnings),
        f"{len(tested)} database dump(s) of snapshot {snapshot.short_id}: {verdict}",
        evidence,
        error="; ".join(problems[:3]),
        bytes_read=total,
        files_restored=len(tested),
    )


def _test_stream(
    repository: Repository,
    snapshot: Snapshot,
    stream: dict[str, str | int],
    servers: dict[str, tuple[str, str]],
    suffix: str,
) -> tuple[list[str], list[str], dict[str, Any]]:
    """Restore-test one dump; return (problems, warnings, evidence of it)."""
    name = str(stream.get("database", stream.get("name")))
    detail: dict[str, Any] = {
        "database": name,
        "kind": stream.get("kind"),
        "recorded_bytes": stream.get("size"),
    }
    kind = SERVER_KIND.get(str(stream.get("kind")))
    if kind is None:
        detail["result"] = "skipped: only PostgreSQL and MySQL databases are restored into a test server"
        return [], [], detail
    if kind not in servers:
        return [f"{name}: no {kind} server is configured for restore tests"], [], detail
    url, password = servers[kind]
    server = parse_address(url, kind).with_password(password or None)
    scratch = f"resguardo_test_{suffix}"
    detail["scratch_database"] = scratch
    chunks = CountedChunks(open_file(repository, snapshot, "/" + str(stream["name"])))
    try:
        counts = restore_and_count(chunks, server, scratch, stream)
    except ResguardoError as error:
        detail["bytes_restored"] = chunks.size
        return [f"{name}: the dump did not restore: {error.message}"], [], detail
    detail["bytes_restored"] = chunks.size
    detail["tables"] = counts
    problems = _size_problems(name, stream, chunks.size) + _count_problems(name, stream, counts)
    warnings = [] if counts or problems else [f"{name}: the restored database holds no table"]
    detail["result"] = "failed" if problems else "passed"
    return problems, warnings, detail


def _size_problems(name: str, stream: dict[str, str | int], size: int) -> list[str]:
    recorded = stream.get("size")
    if recorded is not None and int(recorded) != size:
        return [f"{name}: the dump has {size} bytes, {recorded} were recorded (truncated)"]
    return []


def _count_problems(name: str, stream: dict[str, str | int], counts: dict[str, int]) -> list[str]:
    """Compare restored row counts with those recorded at backup time (when the stream has them)."""
    try:
        recorded = json.loads(str(stream["tables"])) if "tables" in stream else {}
    except ValueError:
        recorded = {}
    exact = str(stream.get("tables_exact", "0")) == "1"
    by_table = {key.split(".", 1)[-1]: value for key, value in counts.items()}
    problems = []
    for table, facts in recorded.items():
        rows = int(facts.get("rows", 0)) if isinstance(facts, dict) else 0
        restored = counts.get(table, by_table.get(table.split(".", 1)[-1]))
        if restored is None:
            problems.append(f"{name}: table {table} is missing from the restored database")
        elif exact and restored != rows:
            problems.append(f"{name}: table {table} has {restored} rows, {rows} were recorded")
        elif rows > 0 and restored == 0:
            problems.append(f"{name}: table {table} is empty, it had about {rows} rows")
    return problems
