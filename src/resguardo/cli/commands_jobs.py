"""The service's jobs: ``job list|add|show|edit|remove|pause|resume|run``, on the catalog or a server.

A schedule or retention is given as the catalog's JSON document, e.g.
``--schedule '{"kind": "interval", "every_days": 1, "at": "01:00"}'``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from resguardo.cli.catalog_client.choose import open_catalog
from resguardo.cli.catalog_client.protocol import JobReferences
from resguardo.cli.catalog_helpers import print_done, print_record
from resguardo.cli.commands_db import DatabaseUrlOption, DataDirOption, command_output
from resguardo.cli.verification_options import (
    RestoreTestScheduleOption,
    SampleFilesOption,
    schedule_of_option,
    settings_line,
)
from resguardo.core.thresholds import MAX_DAYS, MAX_PERCENT, MIN_DAYS, MIN_PERCENT, THRESHOLD_FIELDS

job_app = typer.Typer(help="The service's backup jobs.", no_args_is_help=True, rich_markup_mode=None)

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The job's name.")]
ClientOption = Annotated[
    str | None, typer.Option("--client", metavar="NAME", help="The client server to back up.")
]
RepositoryOption = Annotated[
    str | None, typer.Option("--repository", metavar="NAME", help="The repository to write to.")
]
CategoryOption = Annotated[str | None, typer.Option("--category", metavar="NAME", help="The job's category.")]
PathOption = Annotated[
    list[str] | None, typer.Option("--path", metavar="PATH", help="A path to back up (repeat).")
]
ExcludeOption = Annotated[
    list[str] | None, typer.Option("--exclude", metavar="PATTERN", help="Leave out (repeat).")
]
ScheduleOption = Annotated[
    str | None,
    typer.Option("--schedule", metavar="JSON", help="The schedule document (else the category's)."),
]
RetentionOption = Annotated[
    str | None,
    typer.Option("--retention", metavar="JSON", help="The retention document (else the category's)."),
]
DescriptionOption = Annotated[str | None, typer.Option("--description", help="Free text.")]
SizeChangeOption = Annotated[
    int | None,
    typer.Option(
        "--size-change-percent",
        metavar="N",
        min=MIN_PERCENT,
        max=MAX_PERCENT,
        help="Warn when a backup's size changes by N%% or more from the last one (else the category's).",
    ),
]
FileCountChangeOption = Annotated[
    int | None,
    typer.Option(
        "--file-count-change-percent",
        metavar="N",
        min=MIN_PERCENT,
        max=MAX_PERCENT,
        help="Warn when its number of files changes by N%% or more (else the category's).",
    ),
]
UnchangedDumpDaysOption = Annotated[
    int | None,
    typer.Option(
        "--unchanged-dump-days",
        metavar="N",
        min=MIN_DAYS,
        max=MAX_DAYS,
        help="Warn when a database dump stays identical N days (0: never; else the category's).",
    ),
]
SHOWN = (
    "id",
    "name",
    "client",
    "repository",
    "category",
    "paused",
    "schedule",
    "retention",
    "source",
    *THRESHOLD_FIELDS,
)


def _thresholds(size: int | None, files: int | None, days: int | None) -> dict[str, int]:
    """Return the verification thresholds given on the command line, by field name."""
    given = dict(zip(THRESHOLD_FIELDS, (size, files, days), strict=True))
    return {name: value for name, value in given.items() if value is not None}


def _document(text: str, option: str) -> dict[str, Any]:
    """Return the JSON object ``text`` given to ``option``. Raises UsageError when it is not one."""
    from resguardo.core.errors import UsageError

    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{option} is not valid JSON: {error.msg}", f"give {option} a JSON object") from None
    if not isinstance(value, dict):
        raise UsageError(
            f"{option} must be a JSON object", f"give {option} a JSON object, e.g. '{{\"kind\": ...}}'"
        )
    return value


def _plan(schedule: str | None, retention: str | None, description: str | None) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if schedule is not None:
        from resguardo.schedules import parse_schedule_argument

        fields["schedule"] = parse_schedule_argument(schedule)
    if retention is not None:
        fields["retention"] = _document(retention, "--retention")
    if description is not None:
        fields["description"] = description
    return fields


def _source(paths: list[str] | None, excludes: list[str] | None) -> dict[str, Any]:
    return {"kind": "paths", "paths": list(paths or []), "excludes": list(excludes or [])}


@job_app.command("list")
def job_list(
    ctx: typer.Context, database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None
) -> None:
    """List the catalog's jobs."""
    with open_catalog(ctx, database_url, data_dir) as catalog:
        jobs = catalog.list_jobs()
    output = command_output(ctx)
    if output.json_mode:
        output.json_document(jobs)
        return
    for job in jobs:
        state = "paused" if job["paused"] else "active"
        output.result(f"{job['name']}  {job['client']} -> {job['repository']}  ({job['category']}, {state})")


@job_app.command("add")
def job_add(
    ctx: typer.Context,
    *,
    name: NameArgument,
    client: ClientOption = None,
    repository: RepositoryOption = None,
    category: CategoryOption = None,
    path: PathOption = None,
    exclude: ExcludeOption = None,
    schedule: ScheduleOption = None,
    retention: RetentionOption = None,
    description: DescriptionOption = None,
    size_change_percent: SizeChangeOption = None,
    file_count_change_percent: FileCountChangeOption = None,
    unchanged_dump_days: UnchangedDumpDaysOption = None,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Add a job backing up --path of --client to --repository, in --category.

    The verification thresholds not given follow the category's.

    \f
    Raises:
        UsageError: a required option is missing or a document is not JSON. NotFound: an unknown reference.
        Conflict: the name is taken. ConfigurationError: an invalid schedule or retention.
    """
    from resguardo.core.errors import UsageError

    if client is None or repository is None or category is None or not path:
        raise UsageError("job add needs --client, --repository, --category and at least one --path")
    fields = {
        **_plan(schedule, retention, description),
        "source": _source(path, exclude),
        **_thresholds(size_change_percent, file_count_change_percent, unchanged_dump_days),
    }
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.add_job(name, JobReferences(client, repository, category), fields)
    print_done(command_output(ctx), document, f"job {name!r} added")


@job_app.command("show")
def job_show(
    ctx: typer.Context,
    name: NameArgument,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Show one job with its schedule, retention and source.

    \f
    Raises:
        NotFound: no such job.
    """
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.show_job(name)
    output = command_output(ctx)
    if output.json_mode:
        output.json_document(document)
        return
    texts = {key: json.dumps(document[key]) for key in ("schedule", "retention", "source")}
    texts.update({key: "the category's" for key in THRESHOLD_FIELDS if document.get(key) is None})
    print_record(output, {**document, **texts}, SHOWN)


@job_app.command("edit")
def job_edit(
    ctx: typer.Context,
    *,
    name: NameArgument,
    new_name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    client: ClientOption = None,
    repository: RepositoryOption = None,
    category: CategoryOption = None,
    path: PathOption = None,
    exclude: ExcludeOption = None,
    schedule: ScheduleOption = None,
    retention: RetentionOption = None,
    description: DescriptionOption = None,
    size_change_percent: SizeChangeOption = None,
    file_count_change_percent: FileCountChangeOption = None,
    unchanged_dump_days: UnchangedDumpDaysOption = None,
    category_thresholds: Annotated[
        bool,
        typer.Option(
            "--category-thresholds", help="Drop the job's own verification thresholds: follow the category's."
        ),
    ] = False,
    restore_test_schedule: RestoreTestScheduleOption = None,
    restore_test_sample_files: SampleFilesOption = None,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Change the given fields of a job (--path and --exclude replace the source), and its restore-test
    schedule and sample size.

    \f
    Raises:
        NotFound: no such job or reference. Conflict: the new name is taken.
        ConfigurationError: an invalid schedule or retention. UsageError: a bad --restore-test-schedule.
    """
    fields: dict[str, Any] = _plan(schedule, retention, description)
    if category_thresholds:
        fields.update(dict.fromkeys(THRESHOLD_FIELDS))
    fields.update(_thresholds(size_change_percent, file_count_change_percent, unchanged_dump_days))
    if new_name is not None:
        fields["name"] = new_name
    if path:
        fields["source"] = _source(path, exclude)
    test_schedule = schedule_of_option(restore_test_schedule, "--restore-test-schedule")
    testing = test_schedule is not None or restore_test_sample_files is not None
    references = JobReferences(client, repository, category)
    message = ""
    with open_catalog(ctx, database_url, data_dir) as catalog:
        if fields or references != JobReferences() or not testing:
            document = catalog.edit_job(name, references, fields)
        else:
            document = catalog.show_job(name)
        if testing:
            settings = catalog.set_job_restore_test(
                document["name"], test_schedule, restore_test_sample_files
            )
            document = {**document, "restore_test": settings}
            sample = settings["sample_files"]
            message = "; restore tests: " + settings_line(settings, f"up to {sample} files restored")
    print_done(command_output(ctx), document, f"job {document['name']!r} changed{message}")


def _set_paused(ctx: typer.Context, name: str, paused: bool, database_url: str | None, data_dir: Any) -> None:
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.set_job_paused(name, paused)
    print_done(command_output(ctx), document, f"job {name!r} {'paused' if paused else 'resumed'}")


@job_app.command("pause")
def job_pause(
    ctx: typer.Context,
    name: NameArgument,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Pause a job: the scheduler queues no runs of it until it is resumed; its history stays.

    \f
    Raises:
        NotFound: no such job.
    """
    _set_paused(ctx, name, True, database_url, data_dir)


@job_app.command("resume")
def job_resume(
    ctx: typer.Context,
    name: NameArgument,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Resume a paused job.

    \f
    Raises:
        NotFound: no such job.
    """
    _set_paused(ctx, name, False, database_url, data_dir)


@job_app.command("remove")
def job_remove(
    ctx: typer.Context,
    name: NameArgument,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Remove a job with its runs, once they are older than its records must be kept (else pause it).

    \f
    Raises:
        NotFound: no such job.
        Conflict: the job has runs younger than its records must be kept (R21).
    """
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.remove_job(name)
    print_done(command_output(ctx), {"removed": document}, f"job {name!r} removed")


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
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.run_job_now(name)
    print_done(
        command_output(ctx), document, f"run of job {name!r} requested; a worker starts it at its next pass"
    )


def register(app: typer.Typer) -> None:
    """Add the ``job`` command group to ``app``."""
    app.add_typer(job_app, name="job")
