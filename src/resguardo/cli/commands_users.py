"""The service's users: ``user list|add|show|edit|remove``, each change audited.

A password comes from ``--password-file`` or is asked twice without echo; only its hash is stored, and
no command prints it (``show`` says ``password: set``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from resguardo.cli.catalog_helpers import print_done, print_record, read_secret, record_change
from resguardo.cli.commands_db import DatabaseUrlOption, DataDirOption, command_output
from resguardo.cli.commands_worker import _catalog

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resguardo.catalog.models import User

user_app = typer.Typer(help="The people who use the service.", no_args_is_help=True, rich_markup_mode=None)

NameArgument = Annotated[str, typer.Argument(metavar="USERNAME", help="The user's name.")]
RoleOption = Annotated[
    list[str] | None,
    typer.Option("--role", metavar="ROLE", help="A role (repeat for several), e.g. operator."),
]
DisplayNameOption = Annotated[str | None, typer.Option("--display-name", help="The full name.")]
EmailOption = Annotated[str | None, typer.Option("--email", help="E-mail address.")]
LanguageOption = Annotated[str | None, typer.Option("--language", help="es or en.")]
PasswordFileOption = Annotated[
    str | None, typer.Option("--password-file", metavar="FILE", help="File holding the user's password.")
]
FIELDS = ("id", "username", "display_name", "email", "language", "roles", "active", "password")


def find_user(session: Session, username: str) -> User:
    """Return the user named ``username``. Raises NotFound (with a hint to list the users)."""
    from resguardo.catalog.models import User
    from resguardo.catalog.queries._common import get_by_name_or_raise

    return get_by_name_or_raise(session, User, User.username, username, "user")


def user_document(user: User) -> dict[str, Any]:
    """Return what ``user show --json`` prints of a user: whether a password is set, never its hash."""
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "email": user.email,
        "language": str(user.language),
        "roles": sorted(str(role) for role in user.roles),
        "active": user.active,
        "password": "set" if user.password_hash else "not set",
    }


def _audit_snapshot(user: User) -> dict[str, Any]:
    from resguardo.catalog import queries

    return {**queries.snapshot_of(user), "roles": sorted(str(role) for role in user.roles)}


@user_app.command("list")
def user_list(
    ctx: typer.Context, database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None
) -> None:
    """List the users by name."""
    from resguardo.catalog import queries

    output = command_output(ctx)
    with _catalog(database_url, data_dir) as sessions, sessions() as session:
        users = [
            user_document(user) for user in queries.list_users(session, limit=queries.MAX_PAGE_SIZE).items
        ]
    if output.json_mode:
        output.json_document(users)
        return
    for user in users:
        state = "" if user["active"] else "  (inactive)"
        output.result(f"{user['username']}  {', '.join(user['roles'])}{state}")


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    *,
    username: NameArgument,
    role: RoleOption = None,
    display_name: DisplayNameOption = None,
    email: EmailOption = None,
    language: LanguageOption = None,
    password_file: PasswordFileOption = None,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Add a user with the given roles; the password comes from --password-file or is asked.

    \f
    Raises:
        Conflict: the name is taken. UsageError: an unknown role or language, a password too short.
    """
    from resguardo.catalog import queries
    from resguardo.clock import SYSTEM_CLOCK

    password = read_secret(password_file, "password")
    fields: dict[str, Any] = {
        name: value
        for name, value in (("display_name", display_name), ("email", email), ("language", language))
        if value is not None
    }
    now = SYSTEM_CLOCK.now()
    with _catalog(database_url, data_dir) as sessions, sessions() as session:
        user = queries.create_user(
            session, username=username, now=now, roles=role or (), password=password, **fields
        )
        record_change(session, now, "user.create", "user", user.id, after=_audit_snapshot(user))
        document = user_document(user)
    print_done(command_output(ctx), document, f"user {username!r} added")


@user_app.command("show")
def user_show(
    ctx: typer.Context,
    username: NameArgument,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Show one user.

    \f
    Raises:
        NotFound: no such user.
    """
    with _catalog(database_url, data_dir) as sessions, sessions() as session:
        document = user_document(find_user(session, username))
    print_record(command_output(ctx), document, FIELDS)


@user_app.command("edit")
def user_edit(
    ctx: typer.Context,
    *,
    username: NameArgument,
    new_name: Annotated[str | None, typer.Option("--username", help="A new user name.")] = None,
    role: Annotated[
        list[str] | None, typer.Option("--role", metavar="ROLE", help="The roles (replace all; repeatable).")
    ] = None,
    display_name: DisplayNameOption = None,
    email: EmailOption = None,
    language: LanguageOption = None,
    active: Annotated[
        bool | None, typer.Option("--active/--inactive", help="Allow or refuse logging in.")
    ] = None,
    password_file: PasswordFileOption = None,
    change_password: Annotated[
        bool, typer.Option("--change-password", help="Ask for a new password.")
    ] = False,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Change the given fields of a user; --role replaces the roles; a new password from a file or asked.

    \f
    Raises:
        NotFound: no such user. Conflict: the new name is taken. UsageError: a bad role, language or password.
    """
    from resguardo.catalog import queries
    from resguardo.clock import SYSTEM_CLOCK

    pairs = (
        ("username", new_name),
        ("display_name", display_name),
        ("email", email),
        ("language", language),
        ("active", active),
    )
    changes = {field: value for field, value in pairs if value is not None}
    password = read_secret(password_file, "password") if password_file or change_password else None
    now = SYSTEM_CLOCK.now()
    with _catalog(database_url, data_dir) as sessions, sessions() as session:
        user = find_user(session, username)
        before = _audit_snapshot(user)
        user = queries.update_user(session, user.id, changes, now=now)
        if role:
            user = queries.set_roles(session, user.id, role, now=now)
        if password is not None:
            queries.set_password(session, user.id, password, now=now)
        after = _audit_snapshot(user)
        record_change(session, now, "user.update", "user", user.id, before=before, after=after)
        document = user_document(user)
    print_done(command_output(ctx), document, f"user {document['username']!r} changed")


@user_app.command("remove")
def user_remove(
    ctx: typer.Context,
    username: NameArgument,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Remove a user (jobs they owned keep running, without an owner).

    \f
    Raises:
        NotFound: no such user.
    """
    from resguardo.catalog import queries
    from resguardo.clock import SYSTEM_CLOCK

    now = SYSTEM_CLOCK.now()
    with _catalog(database_url, data_dir) as sessions, sessions() as session:
        user = find_user(session, username)
        document = user_document(user)
        before = _audit_snapshot(user)
        queries.delete_user(session, user.id)
        record_change(session, now, "user.delete", "user", document["id"], before=before)
    print_done(command_output(ctx), {"removed": document}, f"user {username!r} removed")


def register(app: typer.Typer) -> None:
    """Add the ``user`` command group to ``app``."""
    app.add_typer(user_app, name="user")
