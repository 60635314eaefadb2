"""Commands that manage the catalog database: ``db upgrade`` and ``db current``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from resguardo.cli.output import Output

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

db_app = typer.Typer(
    help="Manage the service's catalog database (SQLite by default, or PostgreSQL).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        metavar="URL",
        envvar="RESGUARDO_DATABASE_URL",
        help="sqlite:///PATH or postgresql+psycopg://USER@HOST/DATABASE "
        "(else the SQLite file of --data-dir).",
        show_envvar=True,
    ),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        metavar="DIR",
        envvar="RESGUARDO_DATA_DIR",
        help="The service's data directory (default: ~/.local/share/resguardo).",
        show_envvar=True,
    ),
]


def command_output(ctx: typer.Context) -> Output:
    """Return how the running command prints (its global options)."""
    from resguardo.cli.app import output_of

    return output_of(ctx)


def _shown(url: str) -> str:
    """Return a database URL with any password masked."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def database_error(error: Exception) -> Exception:
    """Return a ConfigurationError saying the database could not be reached (its password hidden)."""
    from resguardo.core.errors import ConfigurationError

    detail = str(getattr(error, "orig", None) or error).splitlines()[0]
    return ConfigurationError(
        f"cannot reach the catalog database: {detail}",
        "check --database-url / RESGUARDO_DATABASE_URL, and that the database server runs",
    )


@contextmanager
def catalog_engine(database_url: str | None, data_dir: Path | None) -> Iterator[tuple[str, Engine]]:
    """Yield the catalog's URL and an engine for it, disposed of afterwards.

    Raises:
        ConfigurationError: the URL is not supported, or the database cannot be reached.
    """
    from sqlalchemy.exc import OperationalError

    from resguardo.catalog.database import create_catalog_engine
    from resguardo.catalog.database import database_url as resolve

    url = resolve(database_url, data_dir)
    engine = create_catalog_engine(url)
    try:
        yield url, engine
    except OperationalError as error:
        raise database_error(error) from None
    finally:
        engine.dispose()


@db_app.command("upgrade")
def upgrade(
    ctx: typer.Context, database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None
) -> None:
    """Create the catalog, or bring its schema up to date with this version of Resguardo.

    \f
    Raises:
        ConfigurationError: the URL is not supported or the database cannot be reached.
    """
    from resguardo.catalog.migrate import current_revision, upgrade_engine

    with catalog_engine(database_url, data_dir) as (url, engine):
        before = current_revision(engine)
        upgrade_engine(engine)
        after = current_revision(engine)
    output = command_output(ctx)
    if output.json_mode:
        output.json_document({"database": _shown(url), "from_revision": before, "revision": after})
        return
    if before == after:
        output.summary(f"catalog {_shown(url)} is up to date (revision {after})")
    else:
        output.summary(f"catalog {_shown(url)} upgraded from revision {before or '(none)'} to {after}")


@db_app.command("current")
def current(
    ctx: typer.Context, database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None
) -> None:
    """Show the revision the catalog is at, and the newest this version of Resguardo ships.

    \f
    Raises:
        ConfigurationError: the URL is not supported or the database cannot be reached.
    """
    from resguardo.catalog.migrate import current_revision, head_revision

    with catalog_engine(database_url, data_dir) as (url, engine):
        revision = current_revision(engine)
    head = head_revision()
    output = command_output(ctx)
    if output.json_mode:
        output.json_document(
            {"database": _shown(url), "revision": revision, "head": head, "up_to_date": revision == head}
        )
        return
    state = "up to date" if revision == head else "run 'resguardo db upgrade'"
    output.result(f"{_shown(url)}: revision {revision or '(none)'}, newest {head} ({state})")


def register(app: typer.Typer) -> None:
    """Add the ``db`` command group to ``app``."""
    app.add_typer(db_app, name="db")
