"""The service's worker on the catalog: ``worker`` (``--once`` for cron)."""

from __future__ import annotations

from typing import Annotated

import typer

from resguardo.cli.catalog_client.local import migrated_sessions
from resguardo.cli.commands_db import DatabaseUrlOption, DataDirOption, command_output


def worker(
    ctx: typer.Context,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
    once: Annotated[
        bool,
        typer.Option(
            "--once", help="Queue what is due, run every due run, send due e-mails, then exit (for cron)."
        ),
    ] = False,
) -> None:
    """Run the scheduler, a worker and the e-mail sender: queue due runs of the catalog's jobs, run
    them, and send the e-mails of the outbox.

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
    from resguardo.notify import Sender

    output = command_output(ctx)
    key = load_secret_key(data_dir or default_data_dir())
    settings = WorkerSettings(secret_key=key, kdf=testing_kdf(), cache_directory=cache_directory())
    with migrated_sessions(database_url, data_dir) as sessions:
        runner = Worker(sessions, settings)
        sender = Sender(sessions, key)
        if once:
            planned = schedule_pass(sessions, SYSTEM_CLOCK.now())
            for name, message in planned.unreadable:
                output.warning(f"job {name!r} skipped: {message}", operation="schedule")
            done = runner.run_until_idle()
            sender.send_due()
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
                for restore_id, restore_state in runner.restores_done:
                    output.result(f"restore {restore_id}: {restore_state or 'stopped'}")
                output.summary(f"{len(planned.queued)} run(s) queued, {len(done)} run(s) done")
            return
        stop = threading.Event()
        scheduler = threading.Thread(
            target=scheduling_loop, args=(sessions, stop), name="scheduler", daemon=True
        )
        mailer = threading.Thread(target=sender.serve, args=(stop,), name="sender", daemon=True)
        scheduler.start()
        mailer.start()
        output.summary(f"worker {settings.worker_id} started; Ctrl-C stops it")
        try:
            runner.serve(stop)
        finally:
            stop.set()
            scheduler.join()
            mailer.join()


def register(app: typer.Typer) -> None:
    """Add ``worker`` to ``app``."""
    app.command()(worker)
