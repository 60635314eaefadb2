"""The database steps of a test: the server answers with the account, the databases exist, and the dump
tools fit the server's version. Listing and version picking are the sources' own functions.
"""

from __future__ import annotations

import subprocess

from resguardo.core.errors import SourceError
from resguardo.services.connectivity.network import STEP_TIMEOUT_SECONDS, port_open
from resguardo.services.connectivity.report import FAILED, OK, WARNING, Report
from resguardo.sources.addresses import DEFAULT_PORTS, DatabaseAddress
from resguardo.sources.mysql import MysqlConnection, find_tool
from resguardo.sources.pgversions import installed_tools, pick_tools
from resguardo.sources.postgresql import PostgresSource

NAMES = {"postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB"}


def check_databases(report: Report, address: DatabaseAddress, databases: list[str]) -> None:
    """Check the server at ``address`` (password included) and each of ``databases``; add the items."""
    target = address.display()
    if address.host is not None:
        port = address.port or DEFAULT_PORTS[address.kind]
        if not port_open(report, address.host, port, NAMES[address.kind]):
            return
    try:
        if address.kind == "postgresql":
            found = _check_postgresql(report, address)
        else:
            found = _check_mysql(report, address)
    except SourceError as error:
        report.add(
            "database server reachable",
            target,
            FAILED,
            error.message,
            (error.hint or "") + "; set the client's database_url and database_password",
        )
        return
    report_databases(report, target, found, databases)


def report_databases(report: Report, target: str, found: list[str], databases: list[str]) -> None:
    """Add an item per database of ``databases``: whether it is among those ``found`` on ``target``."""
    for name in databases:
        if name in found:
            report.add("database exists", name, OK, f"on {target}")
        else:
            report.add(
                "database exists",
                name,
                FAILED,
                f"database {name!r} does not exist on {target}",
                f"correct the name, or ask the requester; databases there: {', '.join(found) or 'none'}",
                missing=True,
            )


def _check_postgresql(report: Report, address: DatabaseAddress) -> list[str]:
    """Check a PostgreSQL server and its dump tools; return its databases. Raises SourceError."""
    with PostgresSource(address) as source:
        server = source.inspect()
    report.add(
        "database server reachable",
        address.display(),
        OK,
        f"PostgreSQL {server.version}; {len(server.databases)} database(s)",
    )
    try:
        tools = pick_tools(server.major, installed_tools(), address.display())
    except SourceError as error:
        report.add("dump tools", "pg_dump", FAILED, error.message, error.hint or "")
    else:
        same = tools.major == server.major
        report.add(
            "dump tools",
            "pg_dump",
            OK if same else WARNING,
            f"pg_dump {tools.major} ({tools.bin_dir}) for a server of version {server.major}",
            "" if same else f"install postgresql-client-{server.major} to dump with the same version",
        )
    if not server.superuser:
        report.add(
            "database account",
            address.display(),
            WARNING,
            "the account is not a superuser: role passwords are left out of the globals dump",
            "use a superuser account (or accept that roles are restored without passwords)",
        )
    return server.databases


def _tool_version(path: str) -> str:
    """Return the first line of ``path --version`` (empty when it does not answer)."""
    try:
        result = subprocess.run(  # noqa: S603 - a dump tool found on PATH, asked its version
            [path, "--version"], capture_output=True, text=True, timeout=STEP_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip().splitlines()[0] if result.stdout.strip() else ""


def _check_mysql(report: Report, address: DatabaseAddress) -> list[str]:
    """Check a MySQL or MariaDB server and its dump tool; return its databases. Raises SourceError."""
    with MysqlConnection(address) as connection:
        server = connection.inspect()
    report.add(
        "database server reachable",
        address.display(),
        OK,
        f"{'MariaDB' if server.mariadb else 'MySQL'} {server.version}; {len(server.databases)} database(s)",
    )
    try:
        dump = find_tool("mariadb-dump", "mysqldump")
    except SourceError as error:
        report.add("dump tools", "mariadb-dump", FAILED, error.message, error.hint or "")
        return server.databases
    version = _tool_version(dump)
    matches = ("mariadb" in version.lower()) == server.mariadb
    report.add(
        "dump tools",
        dump,
        OK if matches else WARNING,
        version or "the tool did not tell its version",
        ""
        if matches
        else "dump MariaDB with mariadb-dump and MySQL with mysqldump of the same major version",
    )
    return server.databases
