"""The service's commands on the catalog: ``worker``, ``job list``, ``job run NAME``, ``run list``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from resguardo.cli.commands_db import DatabaseUrlOption, DataDirOption, catalog_engine, command_output

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.orm import Session, sessionmaker

    from resguardo.catalog.models import Job, Run

job_app = typer.Typer(help="The service's backup jobs.", no_args_is_help=True, rich_markup_mode=None)
run_app = typer.Typer(help="Runs of the service's jobs.", no_args_is_help=True, rich_markup_mode=None)


@contextmanager
def _catalog(database_url: str | None, data_dir: Path | None) -> Iterator[sessionmaker[Session]]:
    """Yield a session factory of the catalog, checked to be at the newest revision.

    Raises:
        ConfigurationError: the database cannot be reached or is not migrated.
    """
    from resguardo.catalog.database import session_factory
    from resguardo.catalog.migrate import current_revision, head_revision
    from resguardo.core.errors import ConfigurationError

    with catalog_engine(database_url, data_dir) as (_url, engine):
        revision = current_revision(engine)
        if revision != head_revision():
            raise ConfigurationError(
                f"the catalog is at revision {revision or '(none)'}, not {head_revision()}",
                "run 'resguardo db upgrade' first",
            )
        yield session_factory(engine)


def _run_document(run: Run) -> dict[str, Any]:
    """Return what ``run list --json`` shows of a run (never its log: see the console for it)."""

    def when(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": run.id,
        "job_id": run.job_id,
        "state": str(run.state),
        "trigger": str(run.trigger),
        "attempt": run.attempt,
        "queued_at": when(run.queued_at),
        "not_before": when(run.not_before),
        "started_at": when(run.started_at),
        "finished_at": when(run.finished_at),
        "worker_id": run.worker_id,
        "bytes_read": run.bytes_read,
        "bytes_added": run.bytes_added,
        "files": run.files,
        "snapshot_id": run.snapshot_id,
        "error": run.error,
    }


def _job_document(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "name": job.name,
        "client": job.client.name,
        "repository": job.repository.name,
        "category": job.category.name,
        "schedule": job.schedule,
        "paused": job.paused,
        "run_now_requested_at": job.run_now_requested_at.isoformat() if job.run_now_requested_at else None,
    }


def worker(
    ctx: typer.Context,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
    once: Annotated[
        bool, typer.Option("--once", help="Queue what is due, run every due run, then exit (for cron).")
    ] = False,
) -> None:
    """Run the scheduler and a worker: queue due runs of the catalog's jobs and run them.

    \f
    Raises:
        ConfigurationError: the catalog cannot be reached or is not migrated.
        SecretKeyError: the catalog's secret key is missing.
    """
    import threading

    from resguardo.catalog.database import default_data_dir
    from resguardo.catalog.secrets import load_secret_key
    from resguardo.cli.session import cache_directory, testing_kdf
    from resguardo.clock import SYSTEM_CLOCK
    from resguardo.jobs.scheduling_loop import schedule_pass, scheduling_loop
    from resguardo.jobs.worker import Worker, WorkerSettings

    output = command_output(ctx)
    key = load_secret_key(data_dir or default_data_dir())
    settings = WorkerSettings(secret_key=key, kdf=testing_kdf(), cache_directory=cache_directory())
    with _catalog(database_url, data_dir) as sessions:
        runner = Worker(sessions, settings)
        if once:
            planned = schedule_pass(sessions, SYSTEM_CLOCK.now())
            for name, message in planned.unreadable:
                output.warning(f"job {name!r} skipped: {message}", operation="schedule")
            done = runner.run_until_idle()
            if output.json_mode:
                output.json_document(
                    {
                        "queued": planned.queued,
                        "runs": [{"id": run_id, "state": state and str(state)} for run_id, state in done],
                    }
                )
            else:
                for run_id, state in done:
                    output.result(f"run {run_id}: {state or 'stopped'}")
                output.summary(f"{len(planned.queued)} run(s) queued, {len(done)} run(s) done")
            return
        stop = threading.Event()
        scheduler = threading.Thread(
            target=scheduling_loop, args=(sessions, stop), name="scheduler", daemon=True
        )
        scheduler.start()
        output.summary(f"worker {settings.worker_id} started; Ctrl-C stops it")
        try:
            runner.serve(stop)
        finally:
            stop.set()
            scheduler.join()


@job_app.command("list")
def job_list(
    ctx: typer.Context, database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None
) -> None:
    """List the catalog's jobs."""
    from resguardo.catalog import queries
    from resguardo.catalog.queries import MAX_PAGE_SIZE

    output = command_output(ctx)
    with _catalog(database_url, data_dir) as sessions, sessions() as session:
        jobs = [_job_document(job) for job in queries.list_jobs(session, limit=MAX_PAGE_SIZE).items]
    if output.json_mode:
        output.json_document(jobs)
        return
    for job in jobs:
        state = "paused" if job["paused"] else "active"
        output.result(f"{job['name']}  {job['client']} -> {job['repository']}  ({job['category']}, {state})")


@job_app.command("run")
def job_run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The job to run.")],
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Ask for one run of a job now ("run now"); a worker starts it at its next pass.

    \f
    Raises:
        NotFound: no such job. Conflict: the job is paused.
    """
    from resguardo.catalog import queries
    from resguardo.clock import SYSTEM_CLOCK
    from resguardo.services import request_run_now

    output = command_output(ctx)
    with _catalog(database_url, data_dir) as sessions, sessions() as session:
        job = request_run_now(session, queries.find_job(session, name).id, None, SYSTEM_CLOCK.now())
        document = _job_document(job)
    if output.json_mode:
        output.json_document(document)
    else:
        output.summary(f"run of job {name!r} requested; a worker starts it at its next pass")


@run_app.command("list")
def run_list(
    ctx: typer.Context,
    job: Annotated[str | None, typer.Option("--job", metavar="NAME", help="Only this job's runs.")] = None,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """List runs, newest first."""
    from resguardo.catalog import queries
    from resguardo.catalog.queries import MAX_PAGE_SIZE

    output = command_output(ctx)
    with _catalog(database_url, data_dir) as sessions, sessions() as session:
        job_id = queries.find_job(session, job).id if job else None
        runs = [
            _run_document(run) for run in queries.list_runs(session, limit=MAX_PAGE_SIZE, job_id=job_id).items
        ]
    if output.json_mode:
        output.json_document(runs)
        return
    for run in runs:
        snapshot = (run["snapshot_id"] or "")[:8]
        output.result(
            f"{run['id']:>6}  job {run['job_id']}  {run['state']:<9}  {run['files']} files  "
            f"{run['bytes_read']} bytes  {snapshot}  {run['error']}".rstrip()
        )


def register(app: typer.Typer) -> None:
    """Add ``worker`` and the ``job`` and ``run`` command groups to ``app``."""
    app.command()(worker)
    app.add_typer(job_app, name="job")
    app.add_typer(run_app, name="run")
