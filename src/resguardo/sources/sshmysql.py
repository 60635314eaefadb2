"""MySQL and MariaDB dumped on a client server reached over SSH: the dump runs there, streams here.

The address is as seen from the client (no host: its local socket). The client's ``mariadb`` (or
``mysql``) answers the inspection in batch mode (``-N -B``), and ``mariadb-dump`` (or ``mysqldump``)
dumps each database with the options of :mod:`resguardo.sources.mysql`. The account and password reach
the tools in an option file written on the client with mode 0600 and removed at exit
(``--defaults-extra-file``, see :mod:`resguardo.sources.sshcommand`).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence

from resguardo.core.errors import SourceError
from resguardo.engine.streams import StreamSource
from resguardo.sources._names import chosen_databases, stream_file_name
from resguardo.sources.addresses import DatabaseAddress
from resguardo.sources.mysql import (
    DATABASE_KIND,
    DUMP_OPTIONS,
    FOLDER,
    SYSTEM_DATABASES,
    USERS_KIND,
    USERS_NAME,
    MysqlServer,
    option_file_text,
    unescape_batch,
)
from resguardo.sources.sshcommand import SECRET_PATH, SshCommandOpener, SshCommands
from resguardo.sources.tablestats import mysql_stats

CONNECT_HINT = (
    "check the user, password, host and port of the database URL as seen from the client "
    "(no host: the client's local socket), and that the server accepts that account there"
)
INSTALL_HINT = "install the MariaDB or MySQL client there (on Debian: apt-get install mariadb-client)"
PROBE_COMMAND = 'for t in mariadb mysql mariadb-dump mysqldump; do command -v "$t"; done; true'


class SshMysqlSource:
    """The databases of a MySQL or MariaDB server, dumped on the client that ``commands`` reaches.

    Args:
        commands: runs commands on the client.
        address: the server as seen from the client.
        databases: the databases to dump; empty for all but the system ones.
        users: also dump the accounts and grants (MariaDB only).
    """

    def __init__(
        self,
        commands: SshCommands,
        address: DatabaseAddress,
        databases: Sequence[str] = (),
        *,
        users: bool = True,
    ) -> None:
        self.commands = commands
        self.address = address
        self.chosen = list(dict.fromkeys(databases))
        self.users = users
        self._found: list[str] | None = None

    @property
    def secret(self) -> str:
        """The option file sent to the client (account, password, where to connect)."""
        return option_file_text(self.address)

    @property
    def defaults(self) -> str:
        """The first argument of every tool: the private option file on the client."""
        return f"--defaults-extra-file={SECRET_PATH}"

    def tool(self, *names: str) -> str:
        """Return the path on the client of the first of ``names`` installed there.

        Raises:
            SourceError: none is.
        """
        if self._found is None:
            self._found = self.commands.run(PROBE_COMMAND, tool="sh").split()
        for name in names:
            for path in self._found:
                if os.path.basename(path) == name:
                    return path
        raise SourceError(f"none of {', '.join(names)} is installed on {self.commands.where}", INSTALL_HINT)

    def query(self, statement: str, database: str | None = None) -> list[str]:
        """Run SQL with the client's ``mariadb -N -B``; return its output lines (unescaped).

        Raises:
            SourceError: no client there, the server cannot be reached or refuses the account, or the
                statement fails.
        """
        client = self.tool("mariadb", "mysql")
        chosen = f" --database={shlex.quote(database)}" if database is not None else ""
        command = (
            f"{shlex.quote(client)} {self.defaults} --batch --skip-column-names{chosen} "
            f"--execute {shlex.quote(statement)}"
        )
        output = self.commands.run(
            command, tool=os.path.basename(client), secret=self.secret, hint=CONNECT_HINT
        )
        return [unescape_batch(line) for line in output.splitlines()]

    def inspect(self) -> MysqlServer:
        """Ask the server its version and databases (system ones left out). Raises SourceError."""
        lines = self.query("SELECT VERSION(); SHOW DATABASES")
        if not lines:
            raise SourceError(f"{self.display()} gave no version")
        return MysqlServer(lines[0], sorted(name for name in lines[1:] if name not in SYSTEM_DATABASES))

    def display(self) -> str:
        """Return the server for messages: its address and the client it is reached through."""
        return f"{self.address.display()} on {self.commands.where}"

    def streams(self) -> list[StreamSource]:
        """Return one stream per database to dump (and the accounts' stream on MariaDB).

        Raises:
            SourceError: the client or server cannot be reached, a chosen database does not exist, or
                no dump tool is installed on the client.
        """
        server = self.inspect()
        dump = self.tool("mariadb-dump", "mysqldump")
        selected = chosen_databases(self.chosen, server.databases, self.display())
        stats = mysql_stats(self.query, selected)
        common: dict[str, str | int] = {
            "server": self.address.display(),
            "server_version": server.version,
            "via": "ssh",
            "client": self.commands.where,
        }
        options = " ".join(DUMP_OPTIONS)
        sources = [
            StreamSource(
                f"{FOLDER}/{stream_file_name(database)}.sql",
                self._opener(
                    f"{shlex.quote(dump)} {self.defaults} {options} -- {shlex.quote(database)}", dump
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
            command = f"{shlex.quote(dump)} {self.defaults} --system=users --skip-dump-date"
            sources.append(
                StreamSource(
                    USERS_NAME, self._opener(command, dump), {**common, "kind": USERS_KIND, "format": "sql"}
                )
            )
        return sources

    def _opener(self, command: str, dump: str) -> SshCommandOpener:
        return SshCommandOpener(self.commands, command, os.path.basename(dump), self.secret, CONNECT_HINT)
