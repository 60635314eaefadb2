"""Which catalog a command works on: a server (remote mode) or the catalog's database (local mode).

* a server named with ``--server`` (or ``RESGUARDO_SERVER``) is used;
* else a catalog named with ``--database-url`` / ``--data-dir`` (or their variables) is opened;
* else the server of ``resguardo login``, if one is stored;
* else the default catalog of this machine's data directory.

The API token is read from ``--token-file`` (or ``RESGUARDO_TOKEN_FILE``), else ``RESGUARDO_TOKEN``,
else the stored login when it is for the same server. It is never taken on the command line itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from resguardo.core.errors import UsageError

if TYPE_CHECKING:
    import typer

    from resguardo.cli.catalog_client.protocol import CatalogClient

SERVER_ENV = "RESGUARDO_SERVER"
TOKEN_ENV = "RESGUARDO_TOKEN"  # noqa: S105 - the name of a variable, not a token
TOKEN_FILE_ENV = "RESGUARDO_TOKEN_FILE"  # noqa: S105 - the name of a variable, not a token


def read_token_file(path: str) -> str:
    """Return the API token stored in a file (its first line, trimmed).

    Raises:
        UsageError: the file cannot be read, or holds no token.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise UsageError(
            f"cannot read the token file {path}: {reason}",
            f"check the path given to --token-file or {TOKEN_FILE_ENV}",
        ) from None
    token = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not token:
        raise UsageError(f"the token file {path} is empty", "write the API token into it")
    return token


def api_token(server: str, token_file: str | None) -> str:
    """Return the API token to call ``server`` with (see the module's docstring).

    Raises:
        UsageError: there is none, or the token file cannot be read.
    """
    from resguardo.cli.catalog_client.remote.login_store import load_login
    from resguardo.cli.catalog_client.remote.transport import normalized_server

    if token_file:
        return read_token_file(token_file)
    from_environment = os.environ.get(TOKEN_ENV, "").strip()
    if from_environment:
        return from_environment
    stored = load_login()
    if stored is not None and normalized_server(stored.server) == normalized_server(server):
        return stored.token
    raise UsageError(
        f"no API token for {server}",
        f"run 'resguardo login --server {server}', or give --token-file FILE (or set {TOKEN_ENV})",
    )


def chosen_server(server: str | None, catalog_named: bool) -> str | None:
    """Return the server to call, or None for the local mode (see the module's docstring)."""
    from resguardo.cli.catalog_client.remote.login_store import load_login

    if server:
        return server
    if catalog_named:
        return None
    stored = load_login()
    return stored.server if stored is not None else None


@contextmanager
def open_catalog(
    ctx: typer.Context, database_url: str | None, data_dir: Path | None
) -> Iterator[CatalogClient]:
    """Yield the catalog the command of ``ctx`` works on: a server's API, or the catalog's database.

    Raises:
        UsageError: a server without a token, or a malformed server address or token file.
        ConfigurationError: the database or the server cannot be reached; the database is not migrated.
    """
    from resguardo.cli.session import settings_of

    settings = settings_of(ctx)
    server = chosen_server(settings.server, database_url is not None or data_dir is not None)
    if server is None:
        from resguardo.cli.catalog_client.local import local_catalog

        with local_catalog(database_url, data_dir) as local:
            yield local
        return
    from resguardo.cli.catalog_client.remote.catalog import RemoteCatalog
    from resguardo.cli.catalog_client.remote.transport import connected, normalized_server

    server = normalized_server(server)
    token = api_token(server, settings.token_file)
    with connected(server, token) as transport:
        yield RemoteCatalog(transport)
