"""The documents of periodic verification that every face shows: a verification of the register, the
register as CSV, a repository's scrub settings and a job's restore-test settings (with when the next is
due), and a restore-test server (never its password)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from resguardo.catalog.enums import VerificationKind
from resguardo.catalog.models import Job, Repository, RestoreTestServer, Verification
from resguardo.catalog.models.verifications import (
    DEFAULT_RESTORE_TEST_SCHEDULE,
    DEFAULT_VERIFICATION_SCHEDULE,
)
from resguardo.catalog.queries import VerificationScheduleRow
from resguardo.catalog.queries.verifications import job_names
from resguardo.jobs.verification_schedule import next_verification

CSV_COLUMNS = (
    "id",
    "kind",
    "repository_id",
    "job_id",
    "job",
    "run_id",
    "snapshot_id",
    "trigger",
    "requested_by",
    "state",
    "queued_at",
    "started_at",
    "finished_at",
    "duration_seconds",
    "bytes_read",
    "packs_read",
    "files_restored",
    "summary",
    "error",
    "problems",
)


def _moment(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def verification_json(record: Verification) -> dict[str, Any]:
    """Return a verification of the register as JSON, its evidence included."""
    return {
        "id": record.id,
        "kind": record.kind.value,
        "repository_id": record.repository_id,
        "job_id": record.job_id,
        "run_id": record.run_id,
        "snapshot_id": record.snapshot_id,
        "trigger": record.trigger.value,
        "requested_by": record.requested_by,
        "state": record.state.value,
        "attempt": record.attempt,
        "schedule_slot": _moment(record.schedule_slot),
        "queued_at": _moment(record.queued_at),
        "started_at": _moment(record.started_at),
        "finished_at": _moment(record.finished_at),
        "heartbeat_at": _moment(record.heartbeat_at),
        "worker_id": record.worker_id,
        "bytes_read": record.bytes_read,
        "packs_read": record.packs_read,
        "files_restored": record.files_restored,
        "summary": record.summary,
        "error": record.error,
        "evidence": record.evidence or {},
    }


def register_csv(session: Session, records: Iterable[Verification]) -> str:
    """Return the register rows ``records`` as CSV text (a header line first)."""
    records = list(records)
    names = job_names(session, {record.job_id for record in records if record.job_id is not None})
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerow(CSV_COLUMNS)
    for record in records:
        document = verification_json(record)
        evidence = document["evidence"]
        document["job"] = names.get(record.job_id or 0, "")
        document["duration_seconds"] = evidence.get("duration_seconds", "")
        document["problems"] = json.dumps(evidence.get("problems", []), ensure_ascii=False)
        writer.writerow([_cell(document.get(column)) for column in CSV_COLUMNS])
    return output.getvalue()


def _cell(value: object) -> str:
    """Return a CSV cell; text a spreadsheet would run as a formula is quoted with an apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not text[1:2].isdigit() else text


def repository_verification_json(record: Repository, now: datetime) -> dict[str, Any]:
    """Return a repository's scrub settings, cycle progress and next scrub."""
    schedule = record.verification_schedule or DEFAULT_VERIFICATION_SCHEDULE
    row = VerificationScheduleRow(
        VerificationKind.SCRUB,
        record.id,
        None,
        record.name,
        json.dumps(schedule, sort_keys=True),
        record.created_at,
        record.verification_last_slot,
        False,
    )
    return {
        "repository_id": record.id,
        "schedule": schedule,
        "schedule_is_default": record.verification_schedule is None,
        "scrub_period_days": record.scrub_period_days,
        "progress": record.scrub_progress,
        "last_slot": _moment(record.verification_last_slot),
        "next_due": _moment(next_verification(row, now)),
    }


def job_restore_test_json(job: Job, now: datetime) -> dict[str, Any]:
    """Return a job's restore-test settings and next test."""
    schedule = job.restore_test_schedule or DEFAULT_RESTORE_TEST_SCHEDULE
    row = VerificationScheduleRow(
        VerificationKind.RESTORE_TEST,
        job.repository_id,
        job.id,
        job.name,
        json.dumps(schedule, sort_keys=True),
        job.created_at,
        job.restore_test_last_slot,
        False,
    )
    return {
        "job_id": job.id,
        "schedule": schedule,
        "schedule_is_default": job.restore_test_schedule is None,
        "sample_files": job.restore_test_sample_files,
        "last_slot": _moment(job.restore_test_last_slot),
        "next_due": None if job.paused else _moment(next_verification(row, now)),
    }


def server_json(record: RestoreTestServer) -> dict[str, Any]:
    """Return a restore-test server: kind, URL, whether a password is set (never the password)."""
    return {
        "kind": record.kind,
        "url": record.url,
        "password_set": record.sealed is not None,
        "updated_at": _moment(record.updated_at),
        "updated_by": record.updated_by,
    }
