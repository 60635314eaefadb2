"""PostgreSQL dumped on a client server reached over SSH: ``pg_dump`` runs there, its output streams here.

The database address is as seen from the client: a URL without a host (``postgresql://postgres@/``)
connects through the client's local socket, where peer authentication needs no password; a host such
as ``127.0.0.1`` connects over TCP there. Inspection runs ``psql -XAtq`` on the client (one JSON answer
per query); the ``pg_dump`` whose major version fits the server is chosen among
``/usr/lib/postgresql/*/bin`` of the client and the one on its ``PATH`` (the rule of
:func:`resguardo.sources.pgversions.pick_tools`). The password, when there is one, reaches the tools as
a ``PGPASSFILE`` written remotely with mode 0600 and removed at exit (see
:mod:`resguardo.sources.sshcommand`).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from resguardo.core.errors import SourceError
from resguardo.engine.streams import StreamSource
from resguardo.sources._names import chosen_databases, stream_file_name
from resguardo.sources.addresses import DatabaseAddress
from resguardo.sources.pgversions import PgTools, major_of, pick_tools
from resguardo.sources.postgresql import (
    CONNECT_TIMEOUT_SECONDS,
    DATABASE_KIND,
    FOLDER,
    GLOBALS_KIND,
    GLOBALS_NAME,
    MAINTENANCE_DATABASE,
    PostgresServer,
    pgpass_line,
)
from resguardo.sources.sshcommand import SECRET_PATH, SshCommandOpener, SshCommands, assignments
from resguardo.sources.tablestats import POSTGRES_TABLES_SQL, TableStats, postgres_stats

REMOTE_ROOT = "/usr/lib/postgresql"
CONNECT_HINT = (
    "check the user, password, host and port of the database URL as seen from the client "
    "(no host: the client's local socket), and that the server accepts that account there"
)
PROBE_COMMAND = (
    f'for f in {REMOTE_ROOT}/*/bin/pg_dump; do [ -x "$f" ] && echo "dir $f"; done; '
    'p=$(command -v pg_dump) && echo "path $p $("$p" --version 2>/dev/null)"; '
    'q=$(command -v psql) && echo "psql $q"; true'
)
"""Lists the client's pg_dump programs: ``dir PATH`` per version folder, ``path PATH VERSION`` and
``psql PATH`` for those on PATH."""
INSPECT_SQL = (
    "SELECT json_build_object('version', current_setting('server_version'), "
    "'number', current_setting('server_version_num')::int, "
    "'superuser', current_setting('is_superuser') = 'on', "
    "'databases', (SELECT coalesce(json_agg(datname ORDER BY datname), '[]') FROM pg_database "
    "WHERE datallowconn AND NOT datistemplate))"
)


def quote_identifier(name: str) -> str:
    """Return a PostgreSQL identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


class RemoteTools:
    """The PostgreSQL client programs found on the client: pg_dump sets by version, and a psql."""

    def __init__(self, probe_output: str) -> None:
        self.versions: list[PgTools] = []
        on_path: list[PgTools] = []
        self.psql = ""
        for line in probe_output.splitlines():
            kind, _, rest = line.partition(" ")
            if kind == "dir":
                folder = Path(rest).parent
                if folder.parent.name.isdigit():
                    self.versions.append(PgTools(int(folder.parent.name), folder))
            elif kind == "path":
                program, _, version = rest.partition(" ")
                words = version.split()
                if words and words[-1].split(".")[0].isdigit():
                    on_path.append(PgTools(int(words[-1].split(".")[0]), Path(program).parent))
            elif kind == "psql":
                self.psql = rest
        if self.versions:  # Debian's per-version folders each hold their psql
            self.versions.sort(key=lambda tools: tools.major)
            self.psql = self.versions[-1].tool("psql")
        else:
            self.versions = on_path

    def pick(self, server_major: int, server: str, where: str) -> PgTools:
        """Return the set for ``server_major`` (or the oldest newer one).

        Raises:
            SourceError: none fits; the message names the versions found on the client.
        """
        try:
            return pick_tools(server_major, self.versions, server)
        except SourceError as error:
            found = ", ".join(f"{tools.major} ({tools.bin_dir})" for tools in self.versions) or "none"
            raise SourceError(
                f"on {where}: {error.message.replace(' here ', ' there ')}; pg_dump versions found there: "
                f"{found}",
                error.hint,
            ) from None


class SshPostgresSource:
    """The databases of a PostgreSQL server, dumped on the client that ``commands`` reaches.

    Args:
        commands: runs commands on the client.
        address: the server as seen from the client (no host: its local socket).
        databases: the databases to dump; empty for every one.
    """

    def __init__(
        self, commands: SshCommands, address: DatabaseAddress, databases: Sequence[str] = ()
    ) -> None:
        self.commands = commands
        self.address = address
        self.chosen = list(dict.fromkeys(databases))
        self._tools: RemoteTools | None = None

    @property
    def secret(self) -> str | None:
        """The ``.pgpass`` line sent to the client, or None without a password (peer authentication)."""
        return None if self.address.password is None else pgpass_line(self.address.password)

    def prefix(self, database: str | None = None) -> str:
        """Return the variables put before a tool: where to connect, as whom, the password file."""
        address = self.address
        variables = {
            name: value
            for name, value in (
                ("PGHOST", address.host or address.socket),
                ("PGPORT", str(address.port) if address.port else None),
                ("PGUSER", address.user),
                ("PGDATABASE", database),
            )
            if value is not None
        }
        variables["PGCONNECT_TIMEOUT"] = str(CONNECT_TIMEOUT_SECONDS)
        variables["PGAPPNAME"] = "resguardo"
        password = f" PGPASSFILE={SECRET_PATH}" if self.secret is not None else ""
        return assignments(variables) + password

    def tools(self) -> RemoteTools:
        """Return the client programs found there (asked once). Raises SourceError."""
        if self._tools is None:
            self._tools = RemoteTools(self.commands.run(PROBE_COMMAND, tool="sh"))
        return self._tools

    def query(self, statement: str, database: str | None = None) -> Any:
        """Run a query answering one JSON value with the client's ``psql``; return it parsed.

        Raises:
            SourceError: psql is missing, the server cannot be reached or refuses the account, or the
                query fails.
        """
        psql = self.tools().psql
        if not psql:
            raise SourceError(
                f"psql is not installed on {self.commands.where}",
                "install PostgreSQL's client tools there "
                "(on Debian or Ubuntu: apt-get install postgresql-client)",
            )
        command = (
            f"{self.prefix(database or self.address.database or MAINTENANCE_DATABASE)} {shlex.quote(psql)} "
            f"-XAtq -v ON_ERROR_STOP=1 -c {shlex.quote(statement)}"
        )
        output = self.commands.run(command, tool="psql", secret=self.secret, hint=CONNECT_HINT)
        try:
            return json.loads(output)
        except ValueError:
            raise SourceError(
                f"psql on {self.commands.where} gave an unexpected answer: {output[:200]!r}"
            ) from None

    def inspect(self) -> PostgresServer:
        """Ask the server its version, its databases, whether the account is a superuser.

        Raises:
            SourceError: the client or server cannot be reached, or the account is refused.
        """
        answer = self.query(INSPECT_SQL)
        return PostgresServer(
            str(answer["version"]),
            major_of(int(answer["number"])),
            [str(name) for name in answer["databases"]],
            bool(answer["superuser"]),
        )

    def table_stats(self, database: str) -> TableStats:
        """Return the per-table statistics of ``database``. Raises SourceError."""
        return postgres_stats(self.query(POSTGRES_TABLES_SQL, database))

    def display(self) -> str:
        """Return the server for messages: its address and the client it is reached through."""
        return f"{self.address.display()} on {self.commands.where}"

    def streams(self) -> list[StreamSource]:
        """Return one stream per database to dump, and the globals stream.

        Raises:
            SourceError: the client or server cannot be reached, a chosen database does not exist, or
                no pg_dump of a suitable version is installed on the client.
        """
        server = self.inspect()
        tools = self.tools().pick(server.major, self.address.display(), self.commands.where)
        selected = chosen_databases(self.chosen, server.databases, self.display())
        common: dict[str, str | int] = {
            "server": self.address.display(),
            "server_version": server.version,
            "tool_version": tools.major,
            "via": "ssh",
            "client": self.commands.where,
        }
        sources = [
            StreamSource(
                f"{FOLDER}/{stream_file_name(database)}.pgdump",
                self._opener(
                    f"{self.prefix(database)} {shlex.quote(tools.tool('pg_dump'))} "
                    "--format=custom --compress=0 --no-password",
                    "pg_dump",
                ),
                {
                    **common,
                    "kind": DATABASE_KIND,
                    "database": database,
                    "format": "pg_dump custom",
                    **self.table_stats(database).description(),
                },
            )
            for database in selected
        ]
        roles = "" if server.superuser else " --no-role-passwords"
        globals_command = (
            f"{self.prefix()} {shlex.quote(tools.tool('pg_dumpall'))} --globals-only --no-password"
        )
        sources.append(
            StreamSource(
                GLOBALS_NAME,
                self._opener(globals_command + roles, "pg_dumpall"),
                {**common, "kind": GLOBALS_KIND, "format": "sql", "role_passwords": int(server.superuser)},
            )
        )
        return sources

    def _opener(self, command: str, tool: str) -> SshCommandOpener:
        return SshCommandOpener(self.commands, command, tool, self.secret, CONNECT_HINT)
