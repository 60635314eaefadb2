"""The catalog's client servers: ``client list|add|show|edit|remove``, on the catalog or a server."""

from __future__ import annotations

from typing import Annotated

import typer

from resguardo.cli.catalog_client.choose import open_catalog
from resguardo.cli.catalog_client.documents import CLIENT_KEYS
from resguardo.cli.catalog_helpers import given, print_done, print_record
from resguardo.cli.commands_db import DatabaseUrlOption, DataDirOption, command_output

client_app = typer.Typer(
    help="The client servers the service backs up.", no_args_is_help=True, rich_markup_mode=None
)

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The client's name.")]
AddressOption = Annotated[str | None, typer.Option("--address", help="Host name or IP address.")]
PortOption = Annotated[int | None, typer.Option("--port", min=1, max=65535, help="SSH port.")]
SshUserOption = Annotated[str | None, typer.Option("--ssh-user", help="The account to log in as.")]
TransportOption = Annotated[str | None, typer.Option("--transport", help="How to reach it: ssh or local.")]
NotesOption = Annotated[str | None, typer.Option("--notes", help="Free text.")]


@client_app.command("list")
def client_list(
    ctx: typer.Context, database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None
) -> None:
    """List the client servers by name."""
    with open_catalog(ctx, database_url, data_dir) as catalog:
        clients = catalog.list_clients()
    output = command_output(ctx)
    if output.json_mode:
        output.json_document(clients)
        return
    for client in clients:
        output.result(f"{client['name']}  {client['ssh_user']}@{client['address']}:{client['port']}")


@client_app.command("add")
def client_add(
    ctx: typer.Context,
    *,
    name: NameArgument,
    address: AddressOption = None,
    port: PortOption = None,
    ssh_user: SshUserOption = None,
    transport: TransportOption = None,
    notes: NotesOption = None,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Add a client server.

    \f
    Raises:
        Conflict: the name is taken. UsageError, ConfigurationError: a field is invalid.
    """
    fields = given(address=address, port=port, ssh_user=ssh_user, transport=transport, notes=notes)
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.add_client(name, fields)
    print_done(command_output(ctx), document, f"client {name!r} added")


@client_app.command("show")
def client_show(
    ctx: typer.Context,
    name: NameArgument,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Show one client server.

    \f
    Raises:
        NotFound: no such client.
    """
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.show_client(name)
    print_record(command_output(ctx), document, CLIENT_KEYS)


@client_app.command("edit")
def client_edit(
    ctx: typer.Context,
    *,
    name: NameArgument,
    new_name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    address: AddressOption = None,
    port: PortOption = None,
    ssh_user: SshUserOption = None,
    transport: TransportOption = None,
    notes: NotesOption = None,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Change the given fields of a client server.

    \f
    Raises:
        NotFound: no such client. Conflict: the new name is taken. UsageError: a field is invalid.
    """
    changes = given(
        name=new_name, address=address, port=port, ssh_user=ssh_user, transport=transport, notes=notes
    )
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.edit_client(name, changes)
    print_done(command_output(ctx), document, f"client {document['name']!r} changed")


@client_app.command("remove")
def client_remove(
    ctx: typer.Context,
    name: NameArgument,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Remove a client server no job uses.

    \f
    Raises:
        NotFound: no such client. Conflict: a job uses it.
    """
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.remove_client(name)
    print_done(command_output(ctx), {"removed": document}, f"client {name!r} removed")


def register(app: typer.Typer) -> None:
    """Add the ``client`` command group to ``app``."""
    app.add_typer(client_app, name="client")
