"""PostgreSQL as a source: every database of a server (or chosen ones), one ``pg_dump`` stream each,
plus the roles, tablespaces and settings (``pg_dumpall --globals-only``).

Dumps use the custom format without compression (``--format=custom --compress=0``): ``pg_restore`` can
restore it selectively, and the repository compresses it itself, deduplicating what did not change
since the last dump (a compressed dump would differ everywhere). The client tools' major version is
matched to the server's (see :mod:`resguardo.sources.pgversions`). A password goes to the tools through
a ``PGPASSFILE`` of mode 0600 in a private folder, never on a command line.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import psycopg

from resguardo.core.errors import SourceError
from resguardo.engine.streams import StreamSource
from resguardo.sources._names import chosen_databases, stream_file_name
from resguardo.sources._private import PrivateFolder
from resguardo.sources._process import CommandOpener
from resguardo.sources.addresses import DatabaseAddress
from resguardo.sources.pgversions import POSTGRES_ROOT, PgTools, installed_tools, major_of, pick_tools
from resguardo.sources.tablestats import POSTGRES_TABLES_SQL, TableStats, postgres_stats

CONNECT_TIMEOUT_SECONDS = 10
MAINTENANCE_DATABASE = "postgres"
FOLDER = "postgresql"
GLOBALS_NAME = f"{FOLDER}/globals.sql"
DATABASE_KIND = "postgresql.database"
GLOBALS_KIND = "postgresql.globals"
CONNECT_HINT = "check the host, port, user and password, and that the server accepts connections from here"


@dataclass(frozen=True, slots=True)
class PostgresServer:
    """What a server said about itself.

    Attributes:
        version: its ``server_version`` text (``15.4 (Debian 15.4-1)``).
        major: its major version.
        databases: the databases that accept connections, templates left out, sorted.
        superuser: whether the account is a superuser (needed to dump role passwords).
    """

    version: str
    major: int
    databases: list[str]
    superuser: bool


def pgpass_line(password: str) -> str:
    """Return a ``.pgpass`` line giving ``password`` for any host, port, database and user."""
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    return f"*:*:*:*:{escaped}\n"


def describe_connection_error(address: DatabaseAddress, error: psycopg.Error) -> SourceError:
    """Return a SourceError for a failed connection, with the server's reason (which holds no password)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reason = " ".join(lines).removeprefix("connection failed: ") if lines else type(error).__name__
    return SourceError(f"cannot connect to {address.display()}: {reason}", CONNECT_HINT)


def _setting(connection: psycopg.Connection[tuple[object, ...]], name: str) -> str:
    """Return a server setting (``SHOW name``) as text."""
    row = connection.execute(f"SHOW {name}").fetchone()
    return "" if row is None else str(row[0])


class PostgresSource:
    """The databases of one PostgreSQL server, as streams of a backup.

    Use it as a context manager around the backup: it holds the private password file.

    Args:
        address: the server; its ``database`` is the one connected to for listing (``postgres`` if None).
        databases: the databases to dump; empty for every one.
        tools_root: where the per-version client tools are.
    """

    def __init__(
        self, address: DatabaseAddress, databases: Sequence[str] = (), *, tools_root: Path = POSTGRES_ROOT
    ) -> None:
        self.address = address
        self.chosen = list(dict.fromkeys(databases))
        self.tools_root = tools_root
        self.folder: PrivateFolder | None = None
        self.password_file: str | None = None

    def __enter__(self) -> PostgresSource:
        self.folder = PrivateFolder()
        if self.address.password is not None:
            self.password_file = self.folder.write("pgpass", pgpass_line(self.address.password))
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.folder is not None:
            self.folder.close()

    def environment(self, database: str | None = None) -> dict[str, str]:
        """Return the environment of a client tool: where to connect, as whom, and the password file."""
        environment = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        address = self.address
        for key, value in (
            ("PGHOST", address.host or address.socket),
            ("PGPORT", str(address.port) if address.port else None),
            ("PGUSER", address.user),
            ("PGDATABASE", database),
            ("PGPASSFILE", self.password_file),
        ):
            if value is not None:
                environment[key] = value
        if self.password_file is None:
            for key in ("PGPASSWORD", "PGPASSFILE"):  # the user's own, when the address gives none
                if key in os.environ:
                    environment[key] = os.environ[key]
        environment["PGCONNECT_TIMEOUT"] = str(CONNECT_TIMEOUT_SECONDS)
        environment["PGAPPNAME"] = "resguardo"
        return environment

    def connect(self, database: str | None = None) -> psycopg.Connection[tuple[object, ...]]:
        """Connect to ``database`` (the address's, or ``postgres``), in autocommit mode.

        Raises:
            SourceError: the server cannot be reached or refuses the account.
        """
        address = self.address
        try:
            return psycopg.connect(
                host=address.host or address.socket,
                port=address.port,
                user=address.user,
                password=address.password,
                dbname=database or address.database or MAINTENANCE_DATABASE,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                application_name="resguardo",
                autocommit=True,
            )
        except psycopg.Error as error:
            raise describe_connection_error(address, error) from None

    def inspect(self) -> PostgresServer:
        """Ask the server its version, its databases and whether the account is a superuser.

        Raises:
            SourceError: the server cannot be reached or refuses the account.
        """
        with self.connect() as connection:
            version = _setting(connection, "server_version")
            number = int(_setting(connection, "server_version_num"))
            superuser = _setting(connection, "is_superuser") == "on"
            rows = connection.execute(
                "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname"
            ).fetchall()
        return PostgresServer(version, major_of(number), [str(row[0]) for row in rows], superuser)

    def table_stats(self, database: str) -> TableStats:
        """Return the per-table statistics of ``database`` (see :mod:`resguardo.sources.tablestats`).

        Raises:
            SourceError: the database cannot be reached, or a table cannot be counted.
        """
        with self.connect(database) as connection:
            try:
                row = connection.execute(POSTGRES_TABLES_SQL).fetchone()
            except psycopg.Error as error:
                raise SourceError(f"cannot count the tables of {database!r}: {error}", CONNECT_HINT) from None
        return postgres_stats(row[0] if row else None)

    def selected_databases(self, server: PostgresServer) -> list[str]:
        """Return the databases to dump: the chosen ones, or all.

        Raises:
            SourceError: a chosen database does not exist on the server.
        """
        return chosen_databases(self.chosen, server.databases, self.address.display())

    def streams(self) -> list[StreamSource]:
        """Return one stream per database to dump, and the globals stream.

        Raises:
            SourceError: the server cannot be reached, a chosen database does not exist, or no client
                tools of a suitable version are installed.
        """
        server = self.inspect()
        tools = pick_tools(server.major, installed_tools(self.tools_root), self.address.display())
        common: dict[str, str | int] = {
            "server": self.address.display(),
            "server_version": server.version,
            "tool_version": tools.major,
        }
        sources = [
            StreamSource(
                f"{FOLDER}/{stream_file_name(database)}.pgdump",
                self._dump_opener(tools, database),
                {
                    **common,
                    "kind": DATABASE_KIND,
                    "database": database,
                    "format": "pg_dump custom",
                    **self.table_stats(database).description(),
                },
            )
            for database in self.selected_databases(server)
        ]
        globals_arguments = [tools.tool("pg_dumpall"), "--globals-only", "--no-password"]
        if not server.superuser:
            globals_arguments.append("--no-role-passwords")
        sources.append(
            StreamSource(
                GLOBALS_NAME,
                self._opener(globals_arguments, self.environment(), "pg_dumpall"),
                {**common, "kind": GLOBALS_KIND, "format": "sql", "role_passwords": int(server.superuser)},
            )
        )
        return sources

    def _dump_opener(self, tools: PgTools, database: str) -> CommandOpener:
        arguments = [tools.tool("pg_dump"), "--format=custom", "--compress=0", "--no-password"]
        return self._opener(arguments, self.environment(database), "pg_dump")

    def _opener(self, arguments: list[str], environment: dict[str, str], tool: str) -> CommandOpener:
        return CommandOpener(arguments, environment, tool, CONNECT_HINT)
