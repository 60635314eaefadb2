"""The database steps of a test of an SSH client whose dumps run there: the client's tools are installed
(and their versions fit the server), the server answers the account from the client, and the databases
exist. The listing, inspection and version picking are the SSH sources' own functions.
"""

from __future__ import annotations

import shlex

from resguardo.core.errors import SourceError
from resguardo.services.connectivity.databases import NAMES, report_databases
from resguardo.services.connectivity.report import FAILED, OK, WARNING, Report
from resguardo.sources.addresses import DatabaseAddress
from resguardo.sources.sshcommand import SshCommands
from resguardo.sources.sshmysql import SshMysqlSource
from resguardo.sources.sshpostgresql import SshPostgresSource

SERVER_STEP = "database server reachable"
TOOLS_STEP = "dump tools"


def check_databases_over_ssh(
    report: Report, commands: SshCommands, address: DatabaseAddress, databases: list[str]
) -> None:
    """Check, from the client ``commands`` reaches, the server at ``address`` (as seen from there, password
    included) and each of ``databases``; add the items."""
    target = f"{address.display()} from {commands.where}"
    try:
        if address.kind == "postgresql":
            found = _check_postgresql(report, commands, address, target)
        else:
            found = _check_mysql(report, commands, address, target)
    except SourceError as error:
        report.add(
            SERVER_STEP,
            target,
            FAILED,
            error.message,
            (error.hint or "")
            + "; set the client's database_url (as seen from the client) and database_password",
        )
        return
    if found is not None:
        report_databases(report, target, found, databases)


def _check_postgresql(
    report: Report, commands: SshCommands, address: DatabaseAddress, target: str
) -> list[str] | None:
    """Check the client's PostgreSQL tools and the server; return its databases (None: no tools)."""
    source = SshPostgresSource(commands, address)
    tools = source.tools()
    if not tools.psql or not tools.versions:
        report.add(
            TOOLS_STEP,
            commands.where,
            FAILED,
            f"no {'psql' if not tools.psql else 'pg_dump'} on the client "
            "(looked in /usr/lib/postgresql/*/bin and on PATH)",
            "install PostgreSQL's client tools there "
            "(on Debian or Ubuntu: apt-get install postgresql-client)",
        )
        return None
    try:
        server = source.inspect()
    except SourceError:
        found = ", ".join(f"{version.major} ({version.bin_dir})" for version in tools.versions)
        report.add(TOOLS_STEP, commands.where, OK, f"pg_dump on the client: {found}")
        raise
    report.add(
        SERVER_STEP,
        target,
        OK,
        f"{NAMES['postgresql']} {server.version}; {len(server.databases)} database(s)",
    )
    try:
        chosen = tools.pick(server.major, address.display(), commands.where)
    except SourceError as error:
        report.add(TOOLS_STEP, commands.where, FAILED, error.message, error.hint or "")
    else:
        same = chosen.major == server.major
        report.add(
            TOOLS_STEP,
            commands.where,
            OK if same else WARNING,
            f"pg_dump {chosen.major} ({chosen.bin_dir}) on the client for a server of version {server.major}",
            ""
            if same
            else f"install postgresql-client-{server.major} on the client to dump with the same version",
        )
    if not server.superuser:
        report.add(
            "database account",
            target,
            WARNING,
            "the account is not a superuser: role passwords are left out of the globals dump",
            "use a superuser account (or accept that roles are restored without passwords)",
        )
    return server.databases


def _check_mysql(
    report: Report, commands: SshCommands, address: DatabaseAddress, target: str
) -> list[str] | None:
    """Check the client's MariaDB/MySQL tools and the server; return its databases (None: no tools)."""
    source = SshMysqlSource(commands, address)
    try:
        dump = source.tool("mariadb-dump", "mysqldump")
        source.tool("mariadb", "mysql")
    except SourceError as error:
        report.add(TOOLS_STEP, commands.where, FAILED, error.message, error.hint or "")
        return None
    version = commands.run(f"{shlex.quote(dump)} --version", tool=dump).strip()
    try:
        server = source.inspect()
    except SourceError:
        report.add(TOOLS_STEP, f"{dump} on {commands.where}", OK, version or "installed")
        raise
    report.add(
        SERVER_STEP,
        target,
        OK,
        f"{'MariaDB' if server.mariadb else 'MySQL'} {server.version}; {len(server.databases)} database(s)",
    )
    matches = ("mariadb" in version.lower()) == server.mariadb
    report.add(
        TOOLS_STEP,
        f"{dump} on {commands.where}",
        OK if matches else WARNING,
        version or "the tool did not tell its version",
        ""
        if matches
        else "dump MariaDB with mariadb-dump and MySQL with mysqldump of the same major version",
    )
    return server.databases
