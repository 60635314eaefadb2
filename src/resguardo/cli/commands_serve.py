"""``resguardo serve``: the whole service in one process, on an embedded SQLite catalog by default.

On start it brings the catalog up to date (as ``db upgrade``), creates the secret key if missing, and on
the first start an administrator and a default local repository. Then it serves the web console and the
REST API, runs the scheduling loop and one worker (see :mod:`resguardo.cli.serve_runtime`) until SIGINT
or SIGTERM.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from resguardo.cli.commands_db import DatabaseUrlOption, DataDirOption

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from resguardo.catalog import SecretKey

ADMIN_USER_ENV = "RESGUARDO_ADMIN_USER"
ADMIN_PASSWORD_ENV = "RESGUARDO_ADMIN_PASSWORD"  # noqa: S105 (the variable's name)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _first_start(sessions: sessionmaker[Session], key: SecretKey, data_dir: Path, base_url: str) -> None:
    """Add the administrator, the default repository and this server as a client if the catalog lacks them.

    A generated password is printed here, once; later starts find the administrator and print nothing.

    Raises:
        UsageError: RESGUARDO_ADMIN_USER is empty or RESGUARDO_ADMIN_PASSWORD too short.
    """
    from resguardo.clock import SYSTEM_CLOCK
    from resguardo.services.first_start import (
        DEFAULT_ADMIN_USERNAME,
        ensure_administrator,
        ensure_default_repository,
        ensure_local_client,
    )

    username = os.environ.get(ADMIN_USER_ENV, DEFAULT_ADMIN_USERNAME)
    password = os.environ.get(ADMIN_PASSWORD_ENV) or None
    with sessions() as session:
        repository = ensure_default_repository(session, key, data_dir, SYSTEM_CLOCK.now())
        if repository is not None:
            logging.getLogger("resguardo.serve").info(
                "added repository %r at %s (its passphrase is sealed in the catalog)",
                repository.name,
                repository.url,
            )
        client = ensure_local_client(session, SYSTEM_CLOCK.now())
        if client is not None:
            logging.getLogger("resguardo.serve").info("added this server as the client %r", client.name)
        administrator = ensure_administrator(
            session, username=username, password=password, now=SYSTEM_CLOCK.now()
        )
    if administrator is None:
        return
    lines = [f"Created the administrator {administrator.username!r}."]
    if administrator.generated_password is not None:
        lines.append(f"Its password, shown this once: {administrator.generated_password}")
    else:
        lines.append(f"Its password is the one in {ADMIN_PASSWORD_ENV}.")
    lines.append(f"Open {base_url}/ in a browser and log in as {administrator.username!r};")
    lines.append(f"for scripts, keep an API token with: resguardo login --server {base_url}")
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def serve(
    ctx: typer.Context,
    data_dir: DataDirOption = None,
    host: Annotated[
        str,
        typer.Option(
            "--host", metavar="ADDRESS", help="Address to listen on (other machines: see docs/cli.md)."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", metavar="PORT", min=0, max=65535, help="Port to listen on (0: any free).")
    ] = 8080,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Run the service: the web console, the REST API, the scheduler and a worker, until Ctrl-C or SIGTERM.

    \f
    Raises:
        ConfigurationError: the catalog cannot be reached, or the address cannot be listened on.
        SecretKeyError: the secret key is malformed.
        UsageError: RESGUARDO_ADMIN_USER or RESGUARDO_ADMIN_PASSWORD is not acceptable.
    """
    from sqlalchemy.exc import OperationalError

    from resguardo.api import ApiSettings
    from resguardo.catalog import create_catalog_engine, default_data_dir, load_secret_key, session_factory
    from resguardo.catalog import database_url as resolve_url
    from resguardo.catalog.migrate import upgrade_engine
    from resguardo.cli.commands_db import database_error
    from resguardo.cli.serve_runtime import (
        base_url,
        is_loopback,
        listening_socket,
        serve_forever,
        start_background,
    )
    from resguardo.cli.session import cache_directory, testing_kdf
    from resguardo.jobs.worker import Worker, WorkerSettings
    from resguardo.web import create_console_app

    del ctx
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=LOG_FORMAT, force=True)
    folder = (data_dir or default_data_dir()).absolute()
    url = resolve_url(database_url, folder)
    key = load_secret_key(folder, create=True)
    listener = listening_socket(host, port)
    engine = create_catalog_engine(url)
    try:
        try:
            upgrade_engine(engine)
            sessions = session_factory(engine)
            _first_start(sessions, key, folder, base_url(listener))
        except OperationalError as error:
            raise database_error(error) from None
        settings = ApiSettings(
            database_url=url, data_dir=folder, secret_key=key, cookie_secure=not is_loopback(host)
        )
        worker = Worker(
            sessions, WorkerSettings(secret_key=key, kdf=testing_kdf(), cache_directory=cache_directory())
        )
        background = start_background(sessions, worker)
        serve_forever(create_console_app(settings), listener, background)
    finally:
        listener.close()
        engine.dispose()


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command()(serve)
