"""``login`` and ``logout``: keep an API token of a server for the catalog commands, and drop it.

``login`` asks for the user name and password (or reads ``--username`` and ``--password-file``), logs in
with them (``POST /api/v1/session``), makes an API token (``POST /api/v1/tokens``), ends that session,
and stores the address and the token readable by the user only (see
:mod:`resguardo.cli.catalog_client.remote.login_store`). The password and the token are never printed.
``logout`` revokes the token on the server and removes it from disk.
"""

from __future__ import annotations

import getpass
import os
import socket
from typing import TYPE_CHECKING, Annotated, Any

import typer

from resguardo.cli.catalog_client.choose import SERVER_ENV
from resguardo.cli.commands_db import command_output
from resguardo.core.errors import AccessDenied, ResguardoError, UsageError

if TYPE_CHECKING:
    from resguardo.cli.catalog_client.remote.transport import ApiTransport

CSRF_HEADER = "X-CSRF-Token"


def _terminal() -> bool:
    try:
        return os.isatty(0)
    except OSError:
        return False


def _username(given: str | None) -> str:
    """Return ``given``, else the user name asked on the terminal. Raises UsageError without one."""
    if given:
        return given
    if not _terminal():
        raise UsageError("no user name given, and no terminal to ask for one", "pass --username NAME")
    answer = input("User name: ").strip()
    if not answer:
        raise UsageError("the user name is empty", "type your user name on the service")
    return answer


def _password(password_file: str | None) -> str:
    """Return the password from ``password_file``, else asked once without echo. Raises UsageError."""
    from resguardo.cli.passphrases import read_password_file

    if password_file:
        return os.fsdecode(read_password_file(password_file))
    if not _terminal():
        raise UsageError("no password given, and no terminal to ask for one", "pass --password-file FILE")
    answer = getpass.getpass("Password: ")
    if not answer:
        raise UsageError("the password is empty", "type your password, or use --password-file")
    return answer


def _token_name() -> str:
    """Return the name the new API token gets: what made it, for whom, where."""
    from resguardo.cli.catalog_client.local_base import local_user_name

    return f"resguardo CLI ({local_user_name()}@{socket.gethostname()})"[:120]


def _new_token(api: ApiTransport, username: str, password: str) -> dict[str, Any]:
    """Log in with a session, make an API token with it, end the session; return the token's record.

    Raises:
        AccessDenied: the user name or the password is wrong. ResguardoError: as the transport.
    """
    try:
        login = api.request("POST", "/session", json={"username": username, "password": password})
    except AccessDenied:
        raise AccessDenied(
            f"cannot log in to {api.server}: the user name or the password is wrong",
            "check them and try again",
        ) from None
    csrf = {CSRF_HEADER: str(login["csrf_token"])}
    made: dict[str, Any] = api.request("POST", "/tokens", json={"name": _token_name()}, headers=csrf)
    api.request("DELETE", "/session", headers=csrf)
    return made


def login(
    ctx: typer.Context,
    server: Annotated[
        str | None,
        typer.Option(
            "--server", metavar="URL", envvar=SERVER_ENV, help="The server's address.", show_envvar=True
        ),
    ] = None,
    username: Annotated[str | None, typer.Option("--username", help="Your user name (else asked).")] = None,
    password_file: Annotated[
        str | None,
        typer.Option("--password-file", metavar="FILE", help="File holding your password (else asked)."),
    ] = None,
) -> None:
    """Log in to a server: make an API token for the catalog commands and keep it (readable by you only).

    \f
    Raises:
        UsageError: no server, user name or password. AccessDenied: wrong user name or password.
        ConfigurationError: the server cannot be reached.
    """
    from resguardo.cli.catalog_client.remote.login_store import StoredLogin, save_login
    from resguardo.cli.catalog_client.remote.transport import connected
    from resguardo.cli.session import settings_of

    address = server or settings_of(ctx).server
    if not address:
        raise UsageError("no server to log in to", "pass --server URL (or set RESGUARDO_SERVER)")
    name = _username(username)
    password = _password(password_file)
    with connected(address, None) as api:
        made = _new_token(api, name, password)
        stored = StoredLogin(
            server=api.server, token=str(made["token"]), token_id=made.get("id"), username=name
        )
    path = save_login(stored)
    output = command_output(ctx)
    if output.json_mode:
        output.json_document(
            {"server": stored.server, "username": name, "token_name": made["name"], "stored_in": str(path)}
        )
    else:
        output.summary(f"logged in to {stored.server} as {name!r}; the API token is kept in {path}")


def logout(ctx: typer.Context) -> None:
    """Log out: revoke the kept API token on its server and remove it from this machine.

    \f
    Raises:
        UsageError: the kept login cannot be read or removed.
    """
    from resguardo.cli.catalog_client.remote.login_store import forget_login, load_login
    from resguardo.cli.catalog_client.remote.transport import connected

    output = command_output(ctx)
    stored = load_login()
    if stored is None:
        if output.json_mode:
            output.json_document({"logged_out": False})
        else:
            output.summary("not logged in to any server")
        return
    revoked = False
    if stored.token_id is not None:
        try:
            with connected(stored.server, stored.token) as api:
                api.request("DELETE", f"/tokens/{stored.token_id}")
            revoked = True
        except ResguardoError as error:
            output.warning(f"the API token was not revoked on the server: {error.message}")
    forget_login()
    if output.json_mode:
        output.json_document({"logged_out": True, "server": stored.server, "token_revoked": revoked})
    else:
        output.summary(f"logged out of {stored.server}" + ("; the API token is revoked" if revoked else ""))


def register(app: typer.Typer) -> None:
    """Add ``login`` and ``logout`` to ``app``."""
    app.command()(login)
    app.command()(logout)
