"""Verifying the backup of a run as it ends: the read-back in the repository, then the verdict in the catalog.

:func:`read_back` runs inside the backup's repository lock, right after its snapshot is saved, and
logs what it read; :func:`verdict_for` compares the run's figures with the job's last successful run
and returns the verdict that :func:`resguardo.services.backup_run.run_backup` stores on the run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from resguardo.catalog import queries
from resguardo.catalog.models import Job
from resguardo.clock import Clock
from resguardo.engine.checker import CheckProblem, verify_written
from resguardo.engine.events import Reporter
from resguardo.engine.repository import Repository
from resguardo.services.verification.figures import run_figures
from resguardo.services.verification.thresholds import thresholds_of
from resguardo.services.verification.verdict import Verdict, judge

MAX_LOGGED_PROBLEMS = 20


def read_back(
    repository: Repository,
    snapshot_id: str,
    reporter: Reporter,
    log: Callable[[str], None],
    clock: Clock,
) -> list[CheckProblem]:
    """Read back and authenticate what the backup just wrote into ``repository``; log and return the problems.

    Args:
        repository: the repository the backup wrote into (its :attr:`~Repository.written_packs`).
        snapshot_id: the snapshot the backup saved.
        reporter: receives the engine's verification events (it may stop the run, as during the backup).
        log: adds a line to the run's log.
        clock: times the read-back.
    """
    packs = list(repository.written_packs)
    started = clock.monotonic()
    problems = verify_written(repository, packs, snapshot_id, reporter)
    seconds = clock.monotonic() - started
    outcome = "intact" if not problems else f"{len(problems)} damaged object(s)"
    shown = f"{len(packs)} new pack(s) and snapshot {snapshot_id[:8]}"
    log(f"verification: read back {shown} in {seconds:.2f} s: {outcome}")
    for problem in problems[:MAX_LOGGED_PROBLEMS]:
        log(f"verification failed: {problem.kind} {problem.name}: {problem.message}")
    return problems


def verdict_for(
    session: Session,
    job: Job,
    run_id: int,
    backup: tuple[Mapping[str, int | float], Sequence[Mapping[str, str | int]]],
    problems: Sequence[CheckProblem],
    *,
    now: datetime,
) -> Verdict:
    """Return the verdict on a run's backup.

    Args:
        session: the catalog (the job's last successful run is read from it).
        job: the run's job (its thresholds, or its category's).
        run_id: the run being finished.
        backup: the snapshot's summary and stream descriptions.
        problems: what :func:`read_back` found.
        now: when the run ends.
    """
    previous = queries.last_run_figures(session, job.id, run_id)
    summary, streams = backup
    figures = run_figures(summary, streams, now, previous)
    return judge(problems, previous, figures, thresholds_of(job, job.category))


__all__ = ["read_back", "verdict_for"]
