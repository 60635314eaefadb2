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
HostKeyOption = Annotated[
    str | None,
    typer.Option("--ssh-host-key", help="The server's public host key, 'TYPE BASE64' (ssh-keyscan output)."),
]
KeyFileOption = Annotated[
    str | None,
    typer.Option("--ssh-key-file", help="A private key file to log in with; sealed in the catalog."),
]
KeyPassphraseFileOption = Annotated[
    str | None,
    typer.Option("--ssh-key-passphrase-file", help="A file holding the key's passphrase; sealed."),
]
DbServerOption = Annotated[
    str | None,
    typer.Option(
        "--db-server", help="The client's database server: postgresql://USER@HOST:PORT/ or mysql://..."
    ),
]
DbPasswordFileOption = Annotated[
    str | None,
    typer.Option("--db-password-file", help="A file holding the database password; sealed."),
]


def _secret_file(path: str | None, what: str, *, whole: bool = False) -> str | None:
    """Return the content of a secret's file (its last line break removed unless ``whole``), or None.

    Raises:
        UsageError: the file cannot be read, or is empty.
    """
    from resguardo.core.errors import UsageError

    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise UsageError(
            f"cannot read the {what} file {path}: {reason}", "check the path and its permissions"
        ) from None
    value = text if whole else text.removesuffix("\n")
    if not value.strip():
        raise UsageError(f"the {what} file {path} is empty")
    return value


def _secrets(key_file: str | None, passphrase_file: str | None, password_file: str | None) -> dict[str, str]:
    """Return the client secrets read from the files given, by secret name."""
    read = {
        "ssh_private_key": _secret_file(key_file, "SSH key", whole=True),
        "ssh_key_passphrase": _secret_file(passphrase_file, "SSH key passphrase"),
        "database_password": _secret_file(password_file, "database password"),
    }
    return {name: value for name, value in read.items() if value is not None}


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
    ssh_host_key: HostKeyOption = None,
    ssh_key_file: KeyFileOption = None,
    ssh_key_passphrase_file: KeyPassphraseFileOption = None,
    db_server: DbServerOption = None,
    db_password_file: DbPasswordFileOption = None,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Add a client server, with the key and passwords to reach it (sealed in the catalog).

    \f
    Raises:
        Conflict: the name is taken. UsageError, ConfigurationError: a field or file is invalid.
    """
    fields = given(
        address=address,
        port=port,
        ssh_user=ssh_user,
        transport=transport,
        notes=notes,
        ssh_host_key=ssh_host_key,
        database_url=db_server,
    )
    secrets = _secrets(ssh_key_file, ssh_key_passphrase_file, db_password_file)
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.add_client(name, fields, secrets)
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
    ssh_host_key: HostKeyOption = None,
    ssh_key_file: KeyFileOption = None,
    ssh_key_passphrase_file: KeyPassphraseFileOption = None,
    db_server: DbServerOption = None,
    db_password_file: DbPasswordFileOption = None,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Change the given fields of a client server, and replace the secrets given.

    \f
    Raises:
        NotFound: no such client. Conflict: the new name is taken. UsageError: a field is invalid.
    """
    changes = given(
        name=new_name,
        address=address,
        port=port,
        ssh_user=ssh_user,
        transport=transport,
        notes=notes,
        ssh_host_key=ssh_host_key,
        database_url=db_server,
    )
    secrets = _secrets(ssh_key_file, ssh_key_passphrase_file, db_password_file)
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.edit_client(name, changes, secrets)
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
    from resguardo.cli.commands_client_test import client_test

    client_app.command("test")(client_test)
    app.add_typer(client_app, name="client")
