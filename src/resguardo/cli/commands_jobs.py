"""Jobs and runs in the catalog: ``job add|show|edit|remove|pause|resume`` and ``run show ID``.

They join the ``job`` and ``run`` groups of :mod:`resguardo.cli.commands_worker`; every change is audited.
A schedule or retention is given as the catalog's JSON document, e.g.
``--schedule '{"kind": "interval", "every_days": 1, "at": "01:00"}'``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from resguardo.cli.catalog_helpers import print_done, print_record, record_change
from resguardo.cli.commands_db import DatabaseUrlOption, DataDirOption, command_output
from resguardo.cli.commands_worker import _catalog, _job_document, _run_document, job_app, run_app

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

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
FIELDS = ("id", "name", "client", "repository", "category", "paused", "schedule", "retention", "source")


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


def _references(
    session: Session, client: str | None, repository: str | None, category: str | None
) -> dict[str, Any]:
    """Return the IDs of the named client, repository and category (those given). Raises NotFound."""
    from resguardo.catalog import queries
    from resguardo.cli.commands_catalog_repositories import find_repository
    from resguardo.cli.commands_clients import find_client

    ids: dict[str, Any] = {}
    if client is not None:
        ids["client_id"] = find_client(session, client).id
    if repository is not None:
        ids["repository_id"] = find_repository(session, repository).id
    if category is not None:
        ids["category_id"] = queries.find_category(session, category).id
    return ids


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


def job_detail(job: Any) -> dict[str, Any]:
    """Return what ``job show --json`` prints: the list's fields with the retention and source."""
    return {
        **_job_document(job),
        "retention": job.retention,
        "source": job.source,
        "description": job.description,
    }


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
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Add a job backing up --path of --client to --repository, in --category.

    \f
    Raises:
        UsageError: a required option is missing or a document is not JSON. NotFound: an unknown reference.
        Conflict: the name is taken. ConfigurationError: an invalid schedule or retention.
    """
    from resguardo.catalog import queries
    from resguardo.clock import SYSTEM_CLOCK
    from resguardo.core.errors import UsageError

    if client is None or repository is None or category is None or not path:
        raise UsageError("job add needs --client, --repository, --category and at least one --path")
    fields = _plan(schedule, retention, description)
    now = SYSTEM_CLOCK.now()
    with _catalog(database_url, data_dir) as sessions, sessions() as session:
        ids = _references(session, client, repository, category)
        job = queries.create_job(session, name=name, now=now, source=_source(path, exclude), **ids, **fields)
        record_change(session, now, "job.create", "job", job.id, after=queries.snapshot_of(job))
        document = job_detail(job)
    print_done(command_output(ctx), document, f"job {name!r} added")


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
    from resguardo.catalog import queries

    with _catalog(database_url, data_dir) as sessions, sessions() as session:
        document = job_detail(queries.find_job(session, name))
    output = command_output(ctx)
    if output.json_mode:
        output.json_document(document)
        return
    print_record(
        output,
        {**document, **{key: json.dumps(document[key]) for key in ("schedule", "retention", "source")}},
        FIELDS,
    )


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
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Change the given fields of a job (--path and --exclude replace the source).

    \f
    Raises:
        NotFound: no such job or reference. Conflict: the new name is taken.
        ConfigurationError: an invalid schedule or retention.
    """
    fields = _plan(schedule, retention, description)
    if new_name is not None:
        fields["name"] = new_name
    if path:
        fields["source"] = _source(path, exclude)
    _change(
        ctx,
        name,
        fields=fields,
        references=(client, repository, category),
        database_url=database_url,
        data_dir=data_dir,
    )


def _change(
    ctx: typer.Context,
    name: str,
    *,
    fields: dict[str, Any],
    references: tuple[str | None, str | None, str | None],
    database_url: str | None,
    data_dir: Any,
    action: str = "job.update",
) -> None:
    """Apply ``fields`` (and the named references) to job ``name``, audit it and report it."""
    from resguardo.catalog import queries
    from resguardo.clock import SYSTEM_CLOCK

    now = SYSTEM_CLOCK.now()
    with _catalog(database_url, data_dir) as sessions, sessions() as session:
        job = queries.find_job(session, name)
        before = queries.snapshot_of(job)
        changes = {**fields, **_references(session, *references)}
        job = queries.update_job(session, job.id, changes, now=now)
        record_change(session, now, action, "job", job.id, before=before, after=queries.snapshot_of(job))
        session.refresh(job)
        document = job_detail(job)
    print_done(command_output(ctx), document, f"job {document['name']!r} changed")


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
    _change(
        ctx,
        name,
        fields={"paused": True},
        references=(None, None, None),
        database_url=database_url,
        data_dir=data_dir,
        action="job.pause",
    )


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
    _change(
        ctx,
        name,
        fields={"paused": False},
        references=(None, None, None),
        database_url=database_url,
        data_dir=data_dir,
        action="job.resume",
    )


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
    from resguardo.catalog import queries
    from resguardo.clock import SYSTEM_CLOCK

    now = SYSTEM_CLOCK.now()
    with _catalog(database_url, data_dir) as sessions, sessions() as session:
        job = queries.find_job(session, name)
        document = job_detail(job)
        before = queries.snapshot_of(job)
        queries.delete_job(session, job.id, now=now)
        record_change(session, now, "job.delete", "job", document["id"], before=before)
    print_done(command_output(ctx), {"removed": document}, f"job {name!r} removed")


def run_show(
    ctx: typer.Context,
    run_id: Annotated[int, typer.Argument(metavar="ID", min=1, help="The run's number (see 'run list').")],
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Show one run with its log.

    \f
    Raises:
        NotFound: no such run.
    """
    from resguardo.catalog import queries

    with _catalog(database_url, data_dir) as sessions, sessions() as session:
        run = queries.get_run(session, run_id)
        document = {**_run_document(run), "log": run.log}
    output = command_output(ctx)
    if output.json_mode:
        output.json_document(document)
        return
    for field, value in document.items():
        if field != "log":
            output.result(f"{field}: {value}")
    output.result("log:")
    for line in document["log"].splitlines():
        output.result(f"  {line}")


def register(app: typer.Typer) -> None:
    """Add the catalog's job and run commands to the ``job`` and ``run`` groups (``app`` holds them)."""
    del app
    job_app.command("add")(job_add)
    job_app.command("show")(job_show)
    job_app.command("edit")(job_edit)
    job_app.command("remove")(job_remove)
    job_app.command("pause")(job_pause)
    job_app.command("resume")(job_resume)
    run_app.command("show")(run_show)
