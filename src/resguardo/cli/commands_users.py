"""The service's users: ``user list|add|show|edit|remove``, on the catalog or a server.

A password comes from ``--password-file`` or is asked twice without echo; only its hash is stored (it is
sent once to the server in the remote mode), and no command prints it (``show`` says ``password: set``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from resguardo.cli.catalog_client.choose import open_catalog
from resguardo.cli.catalog_client.documents import USER_KEYS
from resguardo.cli.catalog_helpers import given, print_done, print_record, read_secret
from resguardo.cli.commands_db import DatabaseUrlOption, DataDirOption, command_output

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


@user_app.command("list")
def user_list(
    ctx: typer.Context, database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None
) -> None:
    """List the users by name."""
    with open_catalog(ctx, database_url, data_dir) as catalog:
        users = catalog.list_users()
    output = command_output(ctx)
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
    password = read_secret(password_file, "password")
    fields = given(display_name=display_name, email=email, language=language)
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.add_user(username, role or [], password, fields)
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
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.show_user(username)
    print_record(command_output(ctx), document, USER_KEYS)


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
    changes = given(
        username=new_name, display_name=display_name, email=email, language=language, active=active
    )
    password = read_secret(password_file, "password") if password_file or change_password else None
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.edit_user(username, changes, role, password)
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
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.remove_user(username)
    print_done(command_output(ctx), {"removed": document}, f"user {username!r} removed")


def register(app: typer.Typer) -> None:
    """Add the ``user`` command group to ``app``."""
    app.add_typer(user_app, name="user")
