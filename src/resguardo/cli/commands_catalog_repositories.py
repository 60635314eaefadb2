"""The catalog's repositories: ``repository list|add|show|edit|remove``, each change audited.

The passphrase is read from ``--password-file`` or asked without echo, sealed with the catalog's key,
and never printed: ``show`` says ``passphrase: set``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from resguardo.cli.catalog_helpers import print_done, print_record, read_secret, record_change
from resguardo.cli.commands_db import DatabaseUrlOption, DataDirOption, command_output
from resguardo.cli.commands_worker import _catalog

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resguardo.catalog import SecretKey
    from resguardo.catalog.models import Repository

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
FIELDS = ("id", "name", "url", "notes", "max_concurrent_runs", "passphrase", "secrets_set")


def find_repository(session: Session, name: str) -> Repository:
    """Return the repository named ``name``. Raises NotFound (with a hint to list them)."""
    from resguardo.catalog.models import Repository
    from resguardo.catalog.queries._common import get_by_name_or_raise

    return get_by_name_or_raise(session, Repository, Repository.name, name, "repository")


def repository_document(repository: Repository) -> dict[str, Any]:
    """Return what ``repository show --json`` prints: which secrets are set, never their values."""
    from resguardo.catalog.enums import SecretName

    names = repository.secret_names
    return {
        "id": repository.id,
        "name": repository.name,
        "url": repository.url,
        "options": repository.options,
        "notes": repository.notes,
        "max_concurrent_runs": repository.max_concurrent_runs,
        "passphrase": "set" if SecretName.PASSPHRASE in names else "not set",
        "secrets_set": sorted(name.value for name in names),
    }


def _audit_snapshot(repository: Repository) -> dict[str, Any]:
    from resguardo.catalog import queries

    return {
        **queries.snapshot_of(repository),
        "secrets_set": sorted(name.value for name in repository.secret_names),
    }


def _secret_key(data_dir: Path | None) -> SecretKey:
    """Return the catalog's secret key. Raises SecretKeyError when it is missing."""
    from resguardo.catalog.database import default_data_dir
    from resguardo.catalog.secrets import load_secret_key

    return load_secret_key(data_dir or default_data_dir())


@repository_app.command("list")
def repository_list(
    ctx: typer.Context, database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None
) -> None:
    """List the repositories by name (never their secrets)."""
    from resguardo.catalog import queries

    output = command_output(ctx)
    with _catalog(database_url, data_dir) as sessions, sessions() as session:
        page = queries.list_repositories(session, limit=queries.MAX_PAGE_SIZE)
        repositories = [repository_document(repository) for repository in page.items]
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
    from resguardo.catalog import queries
    from resguardo.catalog.enums import SecretName
    from resguardo.catalog.models.inventory import DEFAULT_MAX_CONCURRENT_RUNS
    from resguardo.clock import SYSTEM_CLOCK

    passphrase = read_secret(password_file, "repository passphrase")
    key = _secret_key(data_dir)
    now = SYSTEM_CLOCK.now()
    with _catalog(database_url, data_dir) as sessions, sessions() as session:
        repository = queries.create_repository(
            session,
            key,
            name=name,
            url=url,
            now=now,
            notes=notes or "",
            secrets={SecretName.PASSPHRASE: passphrase},
            max_concurrent_runs=max_concurrent_runs or DEFAULT_MAX_CONCURRENT_RUNS,
        )
        session.refresh(repository)
        after = _audit_snapshot(repository)
        record_change(session, now, "repository.create", "repository", repository.id, after=after)
        document = repository_document(repository)
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
    with _catalog(database_url, data_dir) as sessions, sessions() as session:
        document = repository_document(find_repository(session, name))
    print_record(command_output(ctx), document, FIELDS)


@repository_app.command("edit")
def repository_edit(
    ctx: typer.Context,
    *,
    name: NameArgument,
    new_name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    url: Annotated[str | None, typer.Option("--url", help="A new location.")] = None,
    notes: NotesOption = None,
    max_concurrent_runs: RunLimitOption = None,
    password_file: PasswordFileOption = None,
    change_passphrase: Annotated[
        bool, typer.Option("--change-passphrase", help="Ask for a new passphrase (or read --password-file).")
    ] = False,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Change the given fields of a repository, and its sealed passphrase with --password-file.

    \f
    Raises:
        NotFound: no such repository. Conflict: the new name is taken. UsageError: a bad location.
    """
    from resguardo.catalog import queries
    from resguardo.catalog.enums import SecretName
    from resguardo.clock import SYSTEM_CLOCK

    changes = {
        field: value
        for field, value in (
            ("name", new_name),
            ("url", url),
            ("notes", notes),
            ("max_concurrent_runs", max_concurrent_runs),
        )
        if value is not None
    }
    passphrase = (
        read_secret(password_file, "repository passphrase") if password_file or change_passphrase else None
    )
    key = _secret_key(data_dir) if passphrase is not None else None
    now = SYSTEM_CLOCK.now()
    with _catalog(database_url, data_dir) as sessions, sessions() as session:
        repository = find_repository(session, name)
        before = _audit_snapshot(repository)
        repository = queries.update_repository(session, repository.id, changes, now=now)
        if passphrase is not None and key is not None:
            queries.set_secret(session, key, repository.id, SecretName.PASSPHRASE, passphrase)
        session.refresh(repository)
        after = _audit_snapshot(repository)
        record_change(
            session, now, "repository.update", "repository", repository.id, before=before, after=after
        )
        document = repository_document(repository)
    print_done(command_output(ctx), document, f"repository {document['name']!r} changed")


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
    from resguardo.catalog import queries
    from resguardo.clock import SYSTEM_CLOCK

    now = SYSTEM_CLOCK.now()
    with _catalog(database_url, data_dir) as sessions, sessions() as session:
        repository = find_repository(session, name)
        document = repository_document(repository)
        before = _audit_snapshot(repository)
        queries.delete_repository(session, repository.id)
        record_change(session, now, "repository.delete", "repository", document["id"], before=before)
    print_done(command_output(ctx), {"removed": document}, f"repository {name!r} removed from the catalog")


def register(app: typer.Typer) -> None:
    """Add the ``repository`` command group to ``app``."""
    app.add_typer(repository_app, name="repository")
