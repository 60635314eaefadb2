"""Restores of the service: ``restores start|list|show|cancel|retry``, on the catalog or a server.

The group is ``restores`` because ``resguardo restore`` is the engine's own command (a snapshot of a
repository given by ``--repo``, restored by this process); these commands queue restores of a run's
snapshot that a worker of the service carries out, checked, logged and audited.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from resguardo.cli.catalog_client.choose import open_catalog
from resguardo.cli.catalog_client.protocol import Record
from resguardo.cli.catalog_helpers import print_done
from resguardo.cli.commands_db import DatabaseUrlOption, DataDirOption, command_output
from resguardo.cli.output import Output

restores_app = typer.Typer(
    help="Restores of runs' snapshots, carried out by the service's workers.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
RestoreIdArgument = Annotated[
    int, typer.Argument(metavar="ID", min=1, help="The restore's number (see 'restores list').")
]
WAIT_POLL_SECONDS = 1.0
FINISHED = ("succeeded", "failed", "cancelled")


def _print_restores(output: Output, restores: list[Record]) -> None:
    if output.json_mode:
        output.json_document(restores)
        return
    for restore in restores:
        items = ", ".join(map(str, restore["items"]))
        output.result(
            f"{restore['id']:>6}  run {restore['run_id']}  {restore['kind']:<8}  {restore['state']:<9}  "
            f"{restore['bytes_restored']} bytes  {items}  {restore['error']}".rstrip()
        )


def _print_restore(output: Output, document: Record) -> None:
    if output.json_mode:
        output.json_document(document)
        return
    for field, value in document.items():
        if field != "log":
            output.result(f"{field}: {value}")
    output.result("log:")
    for line in str(document.get("log", "")).splitlines():
        output.result(f"  {line}")


def _body(  # noqa: PLR0917 (each argument is an option of the command)
    run_id: int,
    databases: list[str],
    paths: list[str],
    to_database: str | None,
    folder: str | None,
    sqlite_path: str | None,
    overwrite: bool,
    reason: str,
) -> dict[str, Any]:
    """Return the API body of ``restores start``.

    Raises:
        UsageError: neither or both of --database and --path, or --to-database with several databases.
    """
    from resguardo.core.errors import UsageError

    if bool(databases) == bool(paths):
        raise UsageError("give --database NAME (repeatable) or --path PATH (repeatable), not both")
    if to_database is not None and len(databases) != 1:
        raise UsageError("--to-database names the copy of one database", "restore one --database at a time")
    target: dict[str, Any] = {}
    if databases:
        target["databases"] = {databases[0]: to_database} if to_database else {}
        if sqlite_path:
            target["sqlite_path"] = sqlite_path
    else:
        target["folder"] = folder
    return {
        "run_id": run_id,
        "kind": "database" if databases else "paths",
        "items": databases or paths,
        "target": target,
        "overwrite": overwrite,
        "reason": reason,
    }


@restores_app.command("start")
def restores_start(  # noqa: PLR0917 (each argument is an option of the command)
    ctx: typer.Context,
    run_id: Annotated[
        int, typer.Option("--run", metavar="ID", min=1, help="The run whose snapshot to restore.")
    ],
    database: Annotated[
        list[str] | None,
        typer.Option("--database", metavar="NAME", help="A database of the snapshot (repeat)."),
    ] = None,
    path: Annotated[
        list[str] | None, typer.Option("--path", metavar="PATH", help="A path of the snapshot (repeat).")
    ] = None,
    to_database: Annotated[
        str | None,
        typer.Option("--to-database", metavar="NEW", help="The copy's name (default NAME_restored)."),
    ] = None,
    client: Annotated[
        str | None,
        typer.Option(
            "--client", metavar="NAME", help="The client whose database server receives it (the job's)."
        ),
    ] = None,
    folder: Annotated[
        str | None,
        typer.Option("--folder", metavar="DIR", help="With --path: the folder on the backup server."),
    ] = None,
    sqlite_path: Annotated[
        str | None,
        typer.Option("--sqlite-path", metavar="FILE", help="For a SQLite database: the file to write."),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace the database, file or entries that exist at the target."),
    ] = False,
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="Why (kept with the restore).")
    ] = "",
    wait: Annotated[bool, typer.Option("--wait", help="Wait until a worker has carried it out.")] = False,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Queue a restore of databases (or paths) of a run's snapshot; a worker carries it out.

    The data is checked before the target is touched; an existing database is replaced only with
    --overwrite. With --wait, the command ends when the restore does (exit 1 if it failed).

    \f
    Raises:
        NotFound: no such run or client. UsageError: bad options, or an item not in the snapshot.
        Conflict: the target exists and --overwrite is not given. ResguardoError: --wait and it failed.
    """
    body = _body(run_id, database or [], path or [], to_database, folder, sqlite_path, overwrite, reason)
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.start_restore(body, client)
        if wait:
            document = _waited(catalog, int(document["id"]))
    output = command_output(ctx)
    if wait:
        _print_restore(output, document)
        _check_ended_well(document)
        return
    print_done(
        output,
        document,
        f"restore {document['id']} queued; follow it with 'resguardo restores show {document['id']}'",
    )


def _waited(catalog: Any, restore_id: int) -> Record:
    """Return the restore once it has ended (polling the catalog every second)."""
    while True:
        document: Record = catalog.show_restore(restore_id)
        if document["state"] in FINISHED:
            return document
        time.sleep(WAIT_POLL_SECONDS)


def _check_ended_well(document: Record) -> None:
    """Raise ResguardoError (exit 1) when a waited restore did not succeed."""
    from resguardo.core.errors import ResguardoError

    if document["state"] != "succeeded":
        raise ResguardoError(f"restore {document['id']} {document['state']}: {document['error']}")


@restores_app.command("list")
def restores_list(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option("--state", help="Only those in this state.")] = None,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """List restores, newest first.

    \f
    Raises:
        UsageError: an unknown --state.
    """
    from resguardo.catalog.enums import RestoreState
    from resguardo.core.errors import UsageError

    if state is not None and state not in set(RestoreState):
        raise UsageError(f"no restore state is {state!r}", f"use one of {', '.join(RestoreState)}")
    with open_catalog(ctx, database_url, data_dir) as catalog:
        restores = catalog.list_restores(state)
    _print_restores(command_output(ctx), restores)


@restores_app.command("show")
def restores_show(
    ctx: typer.Context,
    restore_id: RestoreIdArgument,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Show one restore with its progress and log.

    \f
    Raises:
        NotFound: no such restore.
    """
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.show_restore(restore_id)
    _print_restore(command_output(ctx), document)


@restores_app.command("cancel")
def restores_cancel(
    ctx: typer.Context,
    restore_id: RestoreIdArgument,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Cancel a queued restore, or stop a running one at its worker's next heartbeat.

    \f
    Raises:
        NotFound: no such restore. Conflict: it has ended.
    """
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.cancel_restore(restore_id)
    print_done(command_output(ctx), document, f"restore {restore_id} cancelled")


@restores_app.command("retry")
def restores_retry(
    ctx: typer.Context,
    restore_id: RestoreIdArgument,
    from_copy: Annotated[
        bool,
        typer.Option(
            "--from-copy",
            help="Read the intact copy of the snapshot in another repository that the failed restore offers.",
        ),
    ] = False,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Queue a failed or cancelled restore again (a new restore with the same items and target).

    When its data check failed and another repository holds the snapshot intact, the failed restore
    offers that copy ('alternative' in 'restores show'); --from-copy restores from it.

    \f
    Raises:
        NotFound: no such restore. Conflict: it is queued, running or succeeded; or --from-copy and
            it offers no copy.
    """
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.retry_restore(restore_id, from_copy)
    where = f" from repository {document['repository_id']}" if from_copy else ""
    print_done(
        command_output(ctx),
        document,
        f"restore {restore_id} queued again as restore {document['id']}{where}",
    )


def register(app: typer.Typer) -> None:
    """Add the ``restores`` command group to ``app``."""
    app.add_typer(restores_app, name="restores")
