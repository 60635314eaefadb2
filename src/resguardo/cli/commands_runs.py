"""Runs of the service's jobs and the failure log: ``run list|show|cancel`` and ``failure list|show``, on
the catalog or a server."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from resguardo.cli.catalog_client.choose import open_catalog
from resguardo.cli.catalog_client.documents import FAILURE_KEYS
from resguardo.cli.catalog_client.protocol import Record
from resguardo.cli.catalog_helpers import print_done, print_record
from resguardo.cli.commands_db import DatabaseUrlOption, DataDirOption, command_output
from resguardo.cli.output import Output

run_app = typer.Typer(help="Runs of the service's jobs.", no_args_is_help=True, rich_markup_mode=None)
failure_app = typer.Typer(
    help="The failure log: failed runs, their cause and corrective action.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

RunIdArgument = Annotated[int, typer.Argument(metavar="ID", min=1, help="The run's number (see 'run list').")]
JobFilterOption = Annotated[str | None, typer.Option("--job", metavar="NAME", help="Only this job's.")]


def _print_runs(output: Output, runs: list[Record]) -> None:
    if output.json_mode:
        output.json_document(runs)
        return
    for run in runs:
        snapshot = (run["snapshot_id"] or "")[:8]
        output.result(
            f"{run['id']:>6}  job {run['job_id']}  {run['state']:<9}  {run['verification']:<12}  "
            f"{run['files']} files  {run['bytes_read']} bytes  {snapshot}  {run['error']}".rstrip()
        )


@run_app.command("list")
def run_list(
    ctx: typer.Context,
    job: JobFilterOption = None,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """List runs, newest first.

    \f
    Raises:
        NotFound: no job is named --job.
    """
    with open_catalog(ctx, database_url, data_dir) as catalog:
        runs = catalog.list_runs(job)
    _print_runs(command_output(ctx), runs)


@run_app.command("show")
def run_show(
    ctx: typer.Context,
    run_id: RunIdArgument,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Show one run with its verification verdict, its reasons, and its log.

    \f
    Raises:
        NotFound: no such run.
    """
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.show_run(run_id)
    output = command_output(ctx)
    if output.json_mode:
        output.json_document(document)
        return
    for field, value in document.items():
        if field == "verification_figures":
            output.result(f"{field}: {json.dumps(value, sort_keys=True)}")
        elif field == "verification_reasons":
            output.result(f"{field}:" + ("" if value else " none"))
            for reason in value:
                output.result(f"  - {reason['message']}")
        elif field != "log":
            output.result(f"{field}: {value}")
    output.result("log:")
    for line in document["log"].splitlines():
        output.result(f"  {line}")


@run_app.command("cancel")
def run_cancel(
    ctx: typer.Context,
    run_id: RunIdArgument,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Cancel a queued run (a running one is stopped by its worker's owner, not here).

    \f
    Raises:
        NotFound: no such run. Conflict: the run is not queued.
    """
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.cancel_run(run_id)
    print_done(command_output(ctx), document, f"run {run_id} cancelled")


@failure_app.command("list")
def failure_list(
    ctx: typer.Context,
    job: JobFilterOption = None,
    open_only: Annotated[
        bool, typer.Option("--open", help="Only the failures not yet followed by a success.")
    ] = False,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """List the failure log, newest first.

    \f
    Raises:
        NotFound: no job is named --job.
    """
    with open_catalog(ctx, database_url, data_dir) as catalog:
        entries = catalog.list_failures(job, open_only)
    output = command_output(ctx)
    if output.json_mode:
        output.json_document(entries)
        return
    for entry in entries:
        state = "closed" if entry["closed_at"] else "open"
        output.result(
            f"{entry['id']:>6}  job {entry['job_id']}  run {entry['run_id']}  {state:<6}  {entry['error']}"
        )


@failure_app.command("show")
def failure_show(
    ctx: typer.Context,
    failure_id: Annotated[int, typer.Argument(metavar="ID", min=1, help="The entry's number.")],
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Show one entry of the failure log with its cause, analysis and corrective action.

    \f
    Raises:
        NotFound: no such entry.
    """
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.show_failure(failure_id)
    print_record(command_output(ctx), document, FAILURE_KEYS)


def register(app: typer.Typer) -> None:
    """Add the ``run`` and ``failure`` command groups to ``app``."""
    app.add_typer(run_app, name="run")
    app.add_typer(failure_app, name="failure")
