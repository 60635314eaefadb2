"""The catalog's client servers: ``client list|add|show|edit|remove``, each change audited."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from resguardo.cli.catalog_helpers import print_done, print_record, record_change
from resguardo.cli.commands_db import DatabaseUrlOption, DataDirOption, command_output
from resguardo.cli.commands_worker import _catalog

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resguardo.catalog.models import Client

client_app = typer.Typer(
    help="The client servers the service backs up.", no_args_is_help=True, rich_markup_mode=None
)

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The client's name.")]
AddressOption = Annotated[str | None, typer.Option("--address", help="Host name or IP address.")]
PortOption = Annotated[int | None, typer.Option("--port", min=1, max=65535, help="SSH port.")]
SshUserOption = Annotated[str | None, typer.Option("--ssh-user", help="The account to log in as.")]
TransportOption = Annotated[str | None, typer.Option("--transport", help="How to reach it: ssh or local.")]
NotesOption = Annotated[str | None, typer.Option("--notes", help="Free text.")]
FIELDS = ("id", "name", "address", "port", "ssh_user", "transport", "notes")


def find_client(session: Session, name: str) -> Client:
    """Return the client named ``name``. Raises NotFound (with a hint to list the clients)."""
    from resguardo.catalog.models import Client
    from resguardo.catalog.queries._common import get_by_name_or_raise

    return get_by_name_or_raise(session, Client, Client.name, name, "client")


def client_document(client: Client) -> dict[str, Any]:
    """Return what ``client show --json`` prints of a client."""
    return {
        "id": client.id,
        "name": client.name,
        "address": client.address,
        "port": client.port,
        "ssh_user": client.ssh_user,
        "transport": str(client.transport),
        "notes": client.notes,
    }


def _given(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


@client_app.command("list")
def client_list(
    ctx: typer.Context, database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None
) -> None:
    """List the client servers by name."""
    from resguardo.catalog import queries

    output = command_output(ctx)
    with _catalog(database_url, data_dir) as sessions, sessions() as session:
        page = queries.list_clients(session, limit=queries.MAX_PAGE_SIZE)
        clients = [client_document(client) for client in page.items]
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
        Conflict: the name is taken. UsageError: a field is invalid.
    """
    from resguardo.catalog import queries
    from resguardo.clock import SYSTEM_CLOCK

    fields = _given(address=address, port=port, ssh_user=ssh_user, transport=transport, notes=notes)
    now = SYSTEM_CLOCK.now()
    with _catalog(database_url, data_dir) as sessions, sessions() as session:
        client = queries.create_client(session, name=name, now=now, **fields)
        record_change(session, now, "client.create", "client", client.id, after=queries.snapshot_of(client))
        document = client_document(client)
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
    with _catalog(database_url, data_dir) as sessions, sessions() as session:
        document = client_document(find_client(session, name))
    print_record(command_output(ctx), document, FIELDS)


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
    from resguardo.catalog import queries
    from resguardo.clock import SYSTEM_CLOCK

    changes = _given(
        name=new_name, address=address, port=port, ssh_user=ssh_user, transport=transport, notes=notes
    )
    now = SYSTEM_CLOCK.now()
    with _catalog(database_url, data_dir) as sessions, sessions() as session:
        client = find_client(session, name)
        before = queries.snapshot_of(client)
        client = queries.update_client(session, client.id, changes, now=now)
        record_change(
            session,
            now,
            "client.update",
            "client",
            client.id,
            before=before,
            after=queries.snapshot_of(client),
        )
        document = client_document(client)
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
    from resguardo.catalog import queries
    from resguardo.clock import SYSTEM_CLOCK

    now = SYSTEM_CLOCK.now()
    with _catalog(database_url, data_dir) as sessions, sessions() as session:
        client = find_client(session, name)
        document = client_document(client)
        before = queries.snapshot_of(client)
        queries.delete_client(session, client.id)
        record_change(session, now, "client.delete", "client", document["id"], before=before)
    print_done(command_output(ctx), {"removed": document}, f"client {name!r} removed")


def register(app: typer.Typer) -> None:
    """Add the ``client`` command group to ``app``."""
    app.add_typer(client_app, name="client")
