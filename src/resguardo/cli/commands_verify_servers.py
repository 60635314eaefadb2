"""The database servers restore tests restore into: ``verify server list|set|remove``, on the catalog or a
server. The password is read from ``--password-file``, sealed with the catalog's key, and never printed."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from resguardo.cli.catalog_client.choose import open_catalog
from resguardo.cli.catalog_helpers import print_done
from resguardo.cli.commands_db import DatabaseUrlOption, DataDirOption, command_output
from resguardo.core.errors import UsageError

server_app = typer.Typer(
    help="The scratch database servers restore tests restore into (one per kind).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

SERVER_KINDS = ("postgresql", "mysql")
KindArgument = Annotated[str, typer.Argument(metavar="KIND", help="postgresql or mysql.")]


def _kind(kind: str) -> str:
    """Return ``kind`` when it is a kind of test server. Raises UsageError naming the argument."""
    if kind not in SERVER_KINDS:
        raise UsageError(
            f"KIND {kind!r} is not a kind of test server", f"use one of: {', '.join(SERVER_KINDS)}"
        )
    return kind


def _password(password_file: str | None) -> str:
    """Return the password in ``password_file`` (empty without one). Raises UsageError: unreadable."""
    if not password_file:
        return ""
    from resguardo.cli.passphrases import read_password_file

    return os.fsdecode(read_password_file(password_file))


@server_app.command("list")
def server_list(
    ctx: typer.Context, database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None
) -> None:
    """List the restore-test servers: kind, URL, whether a password is set (never the password)."""
    with open_catalog(ctx, database_url, data_dir) as catalog:
        servers = catalog.list_test_servers()
    output = command_output(ctx)
    if output.json_mode:
        output.json_document(servers)
        return
    for server in servers:
        password = "password set" if server["password_set"] else "no password"
        output.result(f"{server['kind']:<10}  {server['url']}  ({password}; {server['updated_by']})")


@server_app.command("set")
def server_set(  # noqa: PLR0917 (each option is a command-line option)
    ctx: typer.Context,
    kind: KindArgument,
    url: Annotated[
        str, typer.Argument(metavar="URL", help="e.g. postgresql://USER@HOST:PORT/ (no password in it).")
    ],
    password_file: Annotated[
        str | None,
        typer.Option("--password-file", metavar="FILE", help="File holding the account's password."),
    ] = None,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Set the scratch server restore tests of KIND restore into (never a production one: the tests
    create and drop databases there); its password, from --password-file, is sealed and never shown.

    \f
    Raises:
        UsageError: an unknown kind, a URL of another kind or holding a password, an unreadable file.
        ConfigurationError: the URL is no server address.
    """
    kind, password = _kind(kind), _password(password_file)
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.set_test_server(kind, url, password)
    print_done(command_output(ctx), document, f"{kind} test server set to {document['url']}")


@server_app.command("remove")
def server_remove(
    ctx: typer.Context,
    kind: KindArgument,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Remove the restore-test server of KIND (restore tests of its databases then fail saying so).

    \f
    Raises:
        UsageError: an unknown kind. NotFound: none is set.
    """
    kind = _kind(kind)
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.remove_test_server(kind)
    print_done(command_output(ctx), {"removed": document}, f"{kind} test server removed")
