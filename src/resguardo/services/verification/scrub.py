"""A scrub of a repository: the structure check and a read of this cycle's slice of its packs.

The engine's checker does the work (:func:`resguardo.engine.checker.check` with ``packs``, the slice
:func:`.scrub_plan.plan_slice` chose); this module opens the repository from the catalog, turns the
report into evidence, names the snapshots, jobs and runs damage affects, and marks those runs damaged.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from resguardo.catalog import SecretKey, queries
from resguardo.catalog.models import Verification
from resguardo.catalog.models.verifications import DEFAULT_VERIFICATION_SCHEDULE
from resguardo.engine.checker import CheckReport, check
from resguardo.engine.events import Event, Progress
from resguardo.engine.locks import locked
from resguardo.engine.repository import DATA_PREFIX, Repository, pack_id_from_name
from resguardo.schedules import anchored_schedule_document, schedule_from_dict
from resguardo.services.repositories import opened_repository
from resguardo.services.verification.outcome import (
    MAX_LISTED,
    ProgressReporter,
    VerificationOutcome,
    VerificationProgress,
    state_of,
)
from resguardo.services.verification.scrub_plan import ScrubSlice, plan_slice


def scrub_interval(schedule: dict[str, Any], since: datetime, now: datetime) -> timedelta:
    """Return the time between two slots of a scrub schedule after ``now``."""
    parsed = schedule_from_dict(anchored_schedule_document(schedule, since))
    first = parsed.first_slot_after(now)
    return parsed.first_slot_after(first) - first


def stored_packs(repository: Repository) -> dict[bytes, int]:
    """Return every stored pack's ID and size."""
    packs = {}
    for stored in repository.storage.list(DATA_PREFIX):
        pack_id = pack_id_from_name(stored.name)
        if pack_id is not None:
            packs[pack_id] = stored.size
    return packs


def run_scrub(
    session: Session,
    secret_key: SecretKey,
    verification: Verification,
    reporter: ProgressReporter,
    now: datetime,
    *,
    cache_directory: str | None = None,
) -> VerificationOutcome:
    """Scrub the verification's repository; return the outcome (the progress to store included).
    ``cache_directory``: the engine's metadata cache (None: none).

    Raises:
        ResguardoError: the repository cannot be opened or listed (the verification fails).
    """
    record = queries.get_repository(session, verification.repository_id)
    schedule = record.verification_schedule or DEFAULT_VERIFICATION_SCHEDULE
    interval = scrub_interval(schedule, record.created_at, now)
    period = timedelta(days=record.scrub_period_days)
    progress = dict(record.scrub_progress) if record.scrub_progress else None

    def on_event(event: Event) -> None:
        if isinstance(event, Progress) and event.operation == "check":
            reporter(VerificationProgress(bytes_read=event.bytes_done, packs_read=event.files_done))

    with (
        opened_repository(
            session, secret_key, record.id, now, create=False, cache_directory=cache_directory
        ) as (repository, _created, _note),
        locked(repository),
    ):
        chosen = plan_slice(progress, stored_packs(repository), now, period, interval)
        report = check(repository, packs=chosen.packs, reporter=on_event)
    return _outcome(session, verification, chosen, report, now)


def _outcome(
    session: Session, verification: Verification, chosen: ScrubSlice, report: CheckReport, now: datetime
) -> VerificationOutcome:
    damage = damage_by_snapshot(report)
    damaged_runs = queries.mark_damaged_runs(session, verification.repository_id, damage, now)
    runs_by_snapshot: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in damaged_runs:
        runs_by_snapshot[run.snapshot_id[:8]].append({"run": run.run_id, "job": run.job})
    affected = [
        {"snapshot": snapshot, "damage": text, "runs": runs_by_snapshot.get(snapshot[:8], [])}
        for snapshot, text in sorted(damage.items())
    ]
    problems = [f"{problem.kind} {problem.name}: {problem.message}" for problem in report.errors]
    warnings = [f"{problem.kind} {problem.name}: {problem.message}" for problem in report.warnings]
    progress = chosen.progress
    evidence = {
        "cycle": progress["cycle"],
        "cycle_started_at": progress["started_at"],
        "slice": {
            "first_pack": chosen.packs[0].hex() if chosen.packs else None,
            "last_pack": chosen.packs[-1].hex() if chosen.packs else None,
            "packs": len(chosen.packs),
            "bytes": chosen.size,
        },
        "cycle_progress": {
            "packs_read": progress["packs_read"],
            "packs_at_start": progress["packs_at_start"],
            "complete": chosen.cycle_complete,
        },
        "counts": report.to_json()["counts"],
        "seconds": report.seconds,
        "problems": problems[:MAX_LISTED],
        "warnings": warnings[:MAX_LISTED],
        "affected": affected[:MAX_LISTED],
        "jobs_affected": sorted({run.job for run in damaged_runs}),
    }
    summary = _summary(chosen, report, affected, evidence["jobs_affected"])
    return VerificationOutcome(
        state_of(problems, warnings),
        summary,
        evidence,
        error="; ".join(problems[:3]),
        bytes_read=report.counts.bytes_read,
        packs_read=report.counts.packs_read,
        scrub_progress=progress,
    )


def damage_by_snapshot(report: CheckReport) -> dict[str, str]:
    """Return, per snapshot (short ID, or full ID for a damaged snapshot file), what is damaged in it."""
    paths: dict[str, list[str]] = defaultdict(list)
    for object_id, affected in report.affected.items():
        for item in affected:
            paths[item.snapshot].append(f"{item.path} ({object_id[:16]})")
    damage = {
        snapshot: f"{len(found)} damaged path(s): {', '.join(sorted(found)[:5])}"
        for snapshot, found in paths.items()
    }
    for problem in report.errors:
        if problem.kind == "snapshot":
            damage[problem.name.rsplit("/", 1)[-1]] = f"snapshot file damaged: {problem.message}"
    return damage


def _summary(chosen: ScrubSlice, report: CheckReport, affected: list[Any], jobs: list[str]) -> str:
    cycle = chosen.progress
    read = f"read {len(chosen.packs)} pack(s), {chosen.size} bytes (cycle {cycle['cycle']}: "
    complete = ", complete" if chosen.cycle_complete else ""
    read += f"{cycle['packs_read']} of {cycle['packs_at_start']} packs{complete})"
    if report.errors:
        named = f"; jobs affected: {', '.join(jobs)}" if jobs else ""
        return f"{len(report.errors)} error(s), {len(affected)} snapshot(s) damaged{named}; {read}"
    return f"no damage found; {read}"
