"""MySQL and MariaDB as a source: every database of a server (or chosen ones), one dump stream each,
plus the accounts and their grants on MariaDB.

Each database is dumped by ``mariadb-dump`` (or ``mysqldump``) with ``--single-transaction`` (a consistent
view of InnoDB tables without locking them), ``--routines --triggers --events``, and without ``CREATE
DATABASE``, so that it can be restored under any name. Credentials go to the tools through an option file
of mode 0600 in a private folder (``--defaults-extra-file``), never on a command line.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

from resguardo.core.errors import SourceError
from resguardo.engine.streams import StreamSource
from resguardo.sources._names import chosen_databases, stream_file_name
from resguardo.sources._private import PrivateFolder
from resguardo.sources._process import CommandOpener, run_tool
from resguardo.sources.addresses import DatabaseAddress
from resguardo.sources.tablestats import mysql_stats

SYSTEM_DATABASES = frozenset({"information_schema", "performance_schema", "sys"})
FOLDER = "mysql"
USERS_NAME = f"{FOLDER}/users.sql"
DATABASE_KIND = "mysql.database"
USERS_KIND = "mysql.users"
CONNECT_HINT = "check the host, port, user and password, and that the server accepts connections from here"
DUMP_OPTIONS = (
    "--single-transaction",
    "--routines",
    "--triggers",
    "--events",
    "--hex-blob",
    "--skip-dump-date",
    "--default-character-set=utf8mb4",
)


@dataclass(frozen=True, slots=True)
class MysqlServer:
    """What a server said about itself: its ``VERSION()`` and its databases (system ones left out)."""

    version: str
    databases: list[str]

    @property
    def mariadb(self) -> bool:
        """True for MariaDB, False for MySQL."""
        return "mariadb" in self.version.lower()


def option_value(value: str) -> str:
    """Return ``value`` quoted for a MySQL option file (backslashes, quotes and line ends escaped)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def option_file_text(address: DatabaseAddress) -> str:
    """Return the ``[client]`` option file giving the tools the address and the account."""
    lines = ["[client]"]
    for key, value in (
        ("host", address.host),
        ("port", str(address.port) if address.port else None),
        ("socket", address.socket),
        ("user", address.user),
        ("password", address.password),
    ):
        if value is not None:
            lines.append(f"{key}={option_value(value)}")
    if address.host:
        lines.append("protocol=TCP")
    return "\n".join(lines) + "\n"


def unescape_batch(text: str) -> str:
    """Undo the escapes of the client's ``--batch`` output (``\\t``, ``\\n``, ``\\0``, ``\\\\``)."""
    replacements = {"t": "\t", "n": "\n", "0": "\0", "\\": "\\"}
    result, index = [], 0
    while index < len(text):
        character = text[index]
        if character == "\\" and index + 1 < len(text):
            result.append(replacements.get(text[index + 1], text[index + 1]))
            index += 2
        else:
            result.append(character)
            index += 1
    return "".join(result)


def find_tool(*names: str) -> str:
    """Return the path of the first of ``names`` found on PATH.

    Raises:
        SourceError: none is installed.
    """
    for name in names:
        found = shutil.which(name)
        if found is not None:
            return found
    raise SourceError(
        f"none of {', '.join(names)} is installed",
        "install the MariaDB or MySQL client (on Debian: apt-get install mariadb-client)",
    )


class MysqlConnection:
    """The option file and client tools for one MySQL or MariaDB server; a context manager.

    Args:
        address: the server and account.
    """

    def __init__(self, address: DatabaseAddress) -> None:
        self.address = address
        self.folder: PrivateFolder | None = None
        self.options_file = ""

    def __enter__(self) -> MysqlConnection:
        self.folder = PrivateFolder()
        self.options_file = self.folder.write("client.cnf", option_file_text(self.address))
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.folder is not None:
            self.folder.close()

    @property
    def defaults(self) -> str:
        """The first argument of every tool: the private option file."""
        return f"--defaults-extra-file={self.options_file}"

    def environment(self) -> dict[str, str]:
        """Return the tools' environment, without the MYSQL_PWD and MYSQL_HOST of this process."""
        return {key: value for key, value in os.environ.items() if key not in ("MYSQL_PWD", "MYSQL_HOST")}

    def query(self, statement: str, database: str | None = None) -> list[str]:
        """Run SQL with the client and return its output lines (unescaped, tab-separated columns).

        Raises:
            SourceError: the server cannot be reached, refuses the account, or the statement fails.
        """
        client = find_tool("mariadb", "mysql")
        arguments = [client, self.defaults, "--batch", "--skip-column-names"]
        if database is not None:
            arguments.append(f"--database={database}")
        try:
            output = run_tool([*arguments, "--execute", statement], self.environment(), "the client")
        except SourceError as error:
            raise SourceError(f"{self.address.display()}: {error.message}", CONNECT_HINT) from None
        return [unescape_batch(line) for line in output.splitlines()]

    def inspect(self) -> MysqlServer:
        """Ask the server its version and databases (information_schema, performance_schema, sys left out).

        Raises:
            SourceError: the server cannot be reached or refuses the account.
        """
        lines = self.query("SELECT VERSION(); SHOW DATABASES")
        if not lines:
            raise SourceError(f"{self.address.display()} gave no version")
        databases = sorted(name for name in lines[1:] if name not in SYSTEM_DATABASES)
        return MysqlServer(lines[0], databases)


class MysqlSource(MysqlConnection):
    """The databases of one MySQL or MariaDB server, as streams of a backup (a context manager).

    Args:
        address: the server and account.
        databases: the databases to dump; empty for all but the system ones.
        users: also dump the accounts and grants (MariaDB only: ``--system=users``).
    """

    def __init__(
        self, address: DatabaseAddress, databases: Sequence[str] = (), *, users: bool = True
    ) -> None:
        super().__init__(address)
        self.chosen = list(dict.fromkeys(databases))
        self.users = users

    def __enter__(self) -> MysqlSource:
        super().__enter__()
        return self

    def selected_databases(self, server: MysqlServer) -> list[str]:
        """Return the databases to dump: the chosen ones, or all.

        Raises:
            SourceError: a chosen database does not exist on the server.
        """
        return chosen_databases(self.chosen, server.databases, self.address.display())

    def streams(self) -> list[StreamSource]:
        """Return one stream per database to dump (and the accounts' stream on MariaDB).

        Raises:
            SourceError: the server cannot be reached, a chosen database does not exist, or no dump
                tool is installed.
        """
        server = self.inspect()
        dump = find_tool("mariadb-dump", "mysqldump")
        common: dict[str, str | int] = {"server": self.address.display(), "server_version": server.version}
        selected = self.selected_databases(server)
        stats = mysql_stats(self.query, selected)
        sources = [
            StreamSource(
                f"{FOLDER}/{stream_file_name(database)}.sql",
                CommandOpener(
                    [dump, self.defaults, *DUMP_OPTIONS, "--", database],
                    self.environment(),
                    os.path.basename(dump),
                    CONNECT_HINT,
                ),
                {
                    **common,
                    "kind": DATABASE_KIND,
                    "database": database,
                    "format": "sql",
                    **stats[database].description(),
                },
            )
            for database in selected
        ]
        if self.users and server.mariadb:
            sources.append(
                StreamSource(
                    USERS_NAME,
                    CommandOpener(
                        [dump, self.defaults, "--system=users", "--skip-dump-date"],
                        self.environment(),
                        os.path.basename(dump),
                        CONNECT_HINT,
                    ),
                    {**common, "kind": USERS_KIND, "format": "sql"},
                )
            )
        return sources
