"""Periodic verification from the command line: ``verify run|show|list``, on the catalog or a server."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from resguardo.cli.catalog_client.choose import open_catalog
from resguardo.cli.catalog_client.protocol import Record
from resguardo.cli.catalog_helpers import print_record
from resguardo.cli.commands_db import DatabaseUrlOption, DataDirOption, command_output
from resguardo.cli.output import Output
from resguardo.core.errors import ResguardoError

verify_app = typer.Typer(
    help="Periodic verification: scrubs of repositories and restore tests of jobs.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

KINDS = ("scrub", "restore_test")
STATES = ("queued", "running", "passed", "warnings", "failed")


class VerificationFailed(ResguardoError):
    """A verification waited for ended failed (exit code 1)."""


def _line(record: Record) -> str:
    subject = f"job {record['job_id']}" if record["job_id"] else f"repository {record['repository_id']}"
    return (
        f"{record['id']:>6}  {record['kind']:<12}  {subject:<16}  {record['state']:<8}  "
        f"{record['queued_at'][:19]}  {record['summary']}"
    ).rstrip()


def _print_detail(output: Output, record: Record) -> None:
    if output.json_mode:
        output.json_document(record)
        return
    print_record(output, record, [field for field in record if field != "evidence"])
    output.result("evidence:")
    for line in json.dumps(record["evidence"], indent=2, sort_keys=True, ensure_ascii=False).splitlines():
        output.result(f"  {line}")


@verify_app.command("run")
def verify_run(  # noqa: PLR0917 (each option is a command-line option)
    ctx: typer.Context,
    repository: Annotated[
        str | None, typer.Option("--repository", metavar="NAME", help="Scrub this repository now.")
    ] = None,
    job: Annotated[
        str | None,
        typer.Option("--job", metavar="NAME", help="Test the restore of this job's latest backup."),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Wait for the result (run it here on the catalog; on a server, its workers run it).",
        ),
    ] = False,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Verify now: scrub a repository (--repository) or test a job's restore (--job).

    \f
    Raises:
        UsageError: neither or both of --repository and --job. NotFound: no such repository or job.
        Conflict: a verification of it is queued or running already.
        VerificationFailed: with --wait, the verification failed (exit code 1).
    """
    output = command_output(ctx)
    with open_catalog(ctx, database_url, data_dir) as catalog:
        record = catalog.request_verification(repository, job)
        if not wait:
            if output.json_mode:
                output.json_document(record)
            else:
                output.summary(f"verification {record['id']} ({record['kind']}) queued")
            return
        record = catalog.wait_for_verification(record["id"])
    _print_detail(output, record)
    if record["state"] == "failed":
        raise VerificationFailed(
            f"verification {record['id']} failed: {record['summary']}",
            f"see 'resguardo verify show {record['id']}' for its evidence",
        )


@verify_app.command("show")
def verify_show(
    ctx: typer.Context,
    verification_id: Annotated[int, typer.Argument(metavar="ID", min=1, help="The verification's number.")],
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Show one verification with its evidence.

    \f
    Raises:
        NotFound: no such verification.
    """
    with open_catalog(ctx, database_url, data_dir) as catalog:
        record = catalog.show_verification(verification_id)
    _print_detail(command_output(ctx), record)


@verify_app.command("list")
def verify_list(  # noqa: PLR0917 (each option is a command-line option)
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option("--kind", metavar="KIND", help="scrub or restore_test.")] = None,
    state: Annotated[
        str | None,
        typer.Option("--state", metavar="STATE", help="queued, running, passed, warnings or failed."),
    ] = None,
    repository: Annotated[
        str | None, typer.Option("--repository", metavar="NAME", help="Only this one's.")
    ] = None,
    job: Annotated[str | None, typer.Option("--job", metavar="NAME", help="Only this job's.")] = None,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """List the verification register, newest first.

    \f
    Raises:
        UsageError: an unknown kind or state. NotFound: no such repository or job.
    """
    from resguardo.core.errors import UsageError

    for value, allowed, option in ((kind, KINDS, "--kind"), (state, STATES, "--state")):
        if value is not None and value not in allowed:
            raise UsageError(f"{option} {value!r} is not known", f"use one of: {', '.join(allowed)}")
    filters: dict[str, Any] = {"kind": kind, "state": state, "repository": repository, "job": job}
    with open_catalog(ctx, database_url, data_dir) as catalog:
        records = catalog.list_verifications(filters)
    output = command_output(ctx)
    if output.json_mode:
        output.json_document(records)
        return
    for record in records:
        output.result(_line(record))


def register(app: typer.Typer) -> None:
    """Add the ``verify`` command group (with ``verify server``) to ``app``."""
    from resguardo.cli.commands_verify_servers import server_app

    verify_app.add_typer(server_app, name="server")
    app.add_typer(verify_app, name="verify")
