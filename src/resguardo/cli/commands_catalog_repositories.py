"""The catalog's repositories: ``repository list|add|show|edit|remove``, on the catalog or a server.

The passphrase is read from ``--password-file`` or asked without echo, sealed with the catalog's key
(sent once to the server in the remote mode), and never printed: ``show`` says ``passphrase: set``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from resguardo.cli.catalog_client.choose import open_catalog
from resguardo.cli.catalog_helpers import given, print_done, print_record, read_secret
from resguardo.cli.commands_db import DatabaseUrlOption, DataDirOption, command_output
from resguardo.cli.verification_options import (
    ScrubPeriodOption,
    VerificationScheduleOption,
    schedule_of_option,
    settings_line,
)

repository_app = typer.Typer(
    help="The repositories the service's jobs write to.", no_args_is_help=True, rich_markup_mode=None
)

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The repository's name.")]
NotesOption = Annotated[str | None, typer.Option("--notes", help="Free text.")]
PasswordFileOption = Annotated[
    str | None,
    typer.Option("--password-file", metavar="FILE", help="File holding the repository's passphrase."),
]
RunLimitOption = Annotated[
    int | None,
    typer.Option(
        "--max-concurrent-runs",
        metavar="N",
        min=1,
        max=64,
        help="Runs that may write to it at once (default 2).",
    ),
]
SHOWN = ("id", "name", "url", "notes", "max_concurrent_runs", "passphrase", "secrets_set")
WHAT = "repository passphrase"


@repository_app.command("list")
def repository_list(
    ctx: typer.Context, database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None
) -> None:
    """List the repositories by name (never their secrets)."""
    with open_catalog(ctx, database_url, data_dir) as catalog:
        repositories = catalog.list_repositories()
    output = command_output(ctx)
    if output.json_mode:
        output.json_document(repositories)
        return
    for repository in repositories:
        output.result(f"{repository['name']}  {repository['url']}  (passphrase {repository['passphrase']})")


@repository_app.command("add")
def repository_add(
    ctx: typer.Context,
    *,
    name: NameArgument,
    url: Annotated[str, typer.Option("--url", help="Location: /PATH, local:PATH, sftp://... or s3://...")],
    password_file: PasswordFileOption = None,
    notes: NotesOption = None,
    max_concurrent_runs: RunLimitOption = None,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Add a repository; its passphrase comes from --password-file or is asked (never echoed).

    \f
    Raises:
        Conflict: the name is taken. UsageError: a bad location or no passphrase. SecretKeyError: no key.
    """
    passphrase = read_secret(password_file, WHAT)
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.add_repository(name, url, notes or "", passphrase, max_concurrent_runs)
    print_done(command_output(ctx), document, f"repository {name!r} added")


@repository_app.command("show")
def repository_show(
    ctx: typer.Context,
    name: NameArgument,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Show one repository: which secrets are set, never their values.

    \f
    Raises:
        NotFound: no such repository.
    """
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.show_repository(name)
    print_record(command_output(ctx), document, SHOWN)


@repository_app.command("edit")
def repository_edit(
    ctx: typer.Context,
    *,
    name: NameArgument,
    new_name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    url: Annotated[str | None, typer.Option("--url", help="A new location.")] = None,
    notes: NotesOption = None,
    password_file: PasswordFileOption = None,
    change_passphrase: Annotated[
        bool, typer.Option("--change-passphrase", help="Ask for a new passphrase (or read --password-file).")
    ] = False,
    max_concurrent_runs: RunLimitOption = None,
    verification_schedule: VerificationScheduleOption = None,
    scrub_period_days: ScrubPeriodOption = None,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Change the given fields of a repository, its sealed passphrase with --password-file, and its
    scrub schedule and period.

    \f
    Raises:
        NotFound: no such repository. Conflict: the new name is taken. UsageError: a bad location or
        --verification-schedule.
    """
    changes = given(name=new_name, url=url, notes=notes, max_concurrent_runs=max_concurrent_runs)
    schedule = schedule_of_option(verification_schedule, "--verification-schedule")
    verifying = schedule is not None or scrub_period_days is not None
    passphrase = read_secret(password_file, WHAT) if password_file or change_passphrase else None
    message = ""
    with open_catalog(ctx, database_url, data_dir) as catalog:
        if changes or passphrase is not None or not verifying:
            document = catalog.edit_repository(name, changes, passphrase)
        else:
            document = catalog.show_repository(name)
        if verifying:
            settings = catalog.set_repository_verification(document["name"], schedule, scrub_period_days)
            document = {**document, "verification": settings}
            days = settings["scrub_period_days"]
            message = "; scrubs: " + settings_line(settings, f"every pack read within {days} days")
    print_done(command_output(ctx), document, f"repository {document['name']!r} changed{message}")


@repository_app.command("remove")
def repository_remove(
    ctx: typer.Context,
    name: NameArgument,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Remove a repository from the catalog (no job may use it); its data stays where it is.

    \f
    Raises:
        NotFound: no such repository. Conflict: a job uses it.
    """
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.remove_repository(name)
    print_done(command_output(ctx), {"removed": document}, f"repository {name!r} removed from the catalog")


def register(app: typer.Typer) -> None:
    """Add the ``repository`` command group to ``app``."""
    app.add_typer(repository_app, name="repository")
