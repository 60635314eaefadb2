"""``resguardo client test NAME``: the connectivity and feasibility test of a client, in both modes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import typer

from resguardo.cli.catalog_client.choose import open_catalog
from resguardo.cli.commands_db import DatabaseUrlOption, DataDirOption, command_output
from resguardo.cli.output import Output, format_table

MARKS = {"ok": "ok", "warning": "WARN", "failed": "FAIL", "skipped": "skip"}


def client_test(
    ctx: typer.Context,
    *,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The client's name.")],
    path: Annotated[
        list[str] | None, typer.Option("--path", help="A path to check (repeat for more).")
    ] = None,
    database: Annotated[
        list[str] | None, typer.Option("--database", help="A database to check (repeat for more).")
    ] = None,
    job: Annotated[
        str | None, typer.Option("--job", help="Check the paths or databases and repository of this job.")
    ] = None,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Test that the service can reach a client and back up what is given; exit 1 when a check fails.

    \f
    Raises:
        NotFound: no such client or job. UsageError: the job backs up another client.
        typer.Exit: code 1 when an item failed (after the report is printed).
    """
    with open_catalog(ctx, database_url, data_dir) as catalog:
        report = catalog.test_client(name, path or [], database or [], job)
    output = command_output(ctx)
    print_report(output, report)
    if report["summary"]["failed"]:
        raise typer.Exit(1)


def print_report(output: Output, report: Mapping[str, Any]) -> None:
    """Print a test report: one JSON document with ``--json``, else a table, the fixes, and a summary."""
    if output.json_mode:
        output.json_document(dict(report))
        return
    rows = [
        [MARKS.get(item["status"], item["status"]), item["check"], item["target"], item["detail"]]
        for item in report["items"]
    ]
    output.result(format_table(["STATUS", "CHECK", "TARGET", "DETAIL"], rows))
    fixes = [item for item in report["items"] if item.get("fix") and item["status"] in ("failed", "warning")]
    for item in fixes:
        output.result(f"fix {item['check']} ({item['target']}): {item['fix']}")
    summary = report["summary"]
    output.summary(
        f"client {report['client']}: {summary['result']} ({summary['ok']} ok, {summary['warning']} warnings, "
        f"{summary['failed']} failed, {summary['skipped']} skipped) at {report['tested_at']} "
        f"by {report['tested_by']}"
    )
