"""The connectivity and feasibility test of a client, run against what it would back up, and stored.

:func:`run_client_test` reads the client (revealing its sealed SSH key and database password in memory
only), takes the paths and databases given or those of a job's source, runs the checks and keeps the
report as the client's last test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import paramiko
from sqlalchemy.orm import Session

from resguardo.catalog import ClientSecretName, SecretKey, Transport, queries
from resguardo.catalog.models import Client, Job, Repository
from resguardo.catalog.sources import database_via
from resguardo.core.errors import ConfigurationError, UsageError
from resguardo.services.connectivity.databases import check_databases
from resguardo.services.connectivity.databases_ssh import check_databases_over_ssh
from resguardo.services.connectivity.files import LocalFiles, SftpFiles, check_paths
from resguardo.services.connectivity.network import name_resolves, port_open
from resguardo.services.connectivity.report import FAILED, SKIPPED, Report
from resguardo.services.connectivity.ssh import SshLogin, open_sftp, open_ssh
from resguardo.sources.addresses import DatabaseAddress, parse_address
from resguardo.sources.sshcommand import SshCommands

DATABASE_KINDS = ("postgresql", "mysql")
MAX_TARGETS = 100


@dataclass(frozen=True)
class ConnectivityRequest:
    """What to test on a client: paths, databases, and the repository it would write to.

    A job (``job_id``) gives its source's paths or databases and its repository when these are not given.
    """

    paths: list[str] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)
    repository_id: int | None = None
    job_id: int | None = None


@dataclass
class _Plan:
    paths: list[str]
    databases: list[str]
    repository: Repository | None
    database_url: str
    via: str = "direct"
    database_source: bool = False

    @property
    def checks_databases(self) -> bool:
        """True when a database server is to be checked: databases given, or a database job's source."""
        return bool(self.databases) or self.database_source


def _plan(session: Session, client: Client, request: ConnectivityRequest) -> _Plan:
    """Return what to check: the request's, completed from the job's source.

    Raises:
        NotFound: no such job or repository.
        UsageError: the job backs up another client, or too many paths or databases are given.
    """
    paths, databases = list(request.paths), list(request.databases)
    repository = None
    database_url = client.database_url
    source: dict[str, Any] = {}
    if request.job_id is not None:
        job: Job = queries.get_job(session, request.job_id)
        if job.client_id != client.id:
            raise UsageError(
                f"job {job.name!r} backs up client {job.client.name!r}, not {client.name!r}",
                "name a job of this client, or give the paths and databases",
            )
        source = dict(job.source or {})
        if not paths and not databases:
            if source.get("kind") in DATABASE_KINDS:
                databases = [str(name) for name in source.get("databases") or []]
            else:
                paths = [str(path) for path in source.get("paths") or []]
        database_url = str(source.get("url") or database_url)
        repository = job.repository
    if request.repository_id is not None:
        repository = queries.get_repository(session, request.repository_id)
    if len(paths) + len(databases) > MAX_TARGETS:
        raise UsageError(f"at most {MAX_TARGETS} paths and databases may be tested at once")
    database_source = request.job_id is not None and source.get("kind") in DATABASE_KINDS
    return _Plan(paths, databases, repository, database_url, database_via(source, client), database_source)


def _database_address(
    report: Report, client: Client, url: str, password: str | None
) -> DatabaseAddress | None:
    """Return the client's database server address with its password; None after a failed item."""
    if not url:
        report.add(
            "database server reachable",
            client.name,
            FAILED,
            "the client has no database_url",
            f"resguardo client edit {client.name} --db-server postgresql://USER@HOST:5432/ "
            "(or mysql://...), and --db-password-file for its password",
        )
        return None
    try:
        address = client_database_address(client, url)
    except ConfigurationError as error:
        report.add("database server reachable", client.name, FAILED, error.message, error.hint or "")
        return None
    return address.with_password(password)


def client_database_address(client: Client, url: str, kind: str | None = None) -> DatabaseAddress:
    """Return the database server at ``url`` (the client's address when it names no host, on an SSH client).

    Raises:
        ConfigurationError: the URL is malformed, or not of ``kind`` (postgresql or mysql) when given.
    """
    address = parse_address(url, kind)
    if address.host is None and address.socket is None and client.transport is Transport.SSH:
        address = DatabaseAddress(
            address.kind, client.address, address.port, address.user, None, address.database
        )
    return address


def _check_ssh_client(report: Report, session: Session, key: SecretKey, client: Client, plan: _Plan) -> None:
    """Run the network, SSH and SFTP steps of an SSH client."""
    if not name_resolves(report, client.address):
        _skip_rest(report, plan, "the name does not resolve")
        return
    if not port_open(report, client.address, client.port, "SSH"):
        _skip_rest(report, plan, "the SSH port is not open")
        return
    login = SshLogin(
        client.address,
        client.port,
        client.ssh_user or "root",
        client.ssh_host_key,
        queries.reveal_client_secret(session, key, client.id, ClientSecretName.SSH_PRIVATE_KEY),
        queries.reveal_client_secret(session, key, client.id, ClientSecretName.SSH_KEY_PASSPHRASE),
        f"of client {client.name!r} in the catalog",
    )
    transport = open_ssh(report, login)
    if transport is None:
        _skip_paths(report, plan.paths, "SSH did not log in")
        if plan.via == "ssh":
            _skip_databases(report, plan, "SSH did not log in")
        else:
            _check_database_part(report, session, key, client, plan)
        return
    try:
        if plan.paths:
            sftp = open_sftp(report, transport, login.target)
            if sftp is None:
                _skip_paths(report, plan.paths, "no SFTP session")
            else:
                check_paths(report, SftpFiles(sftp, f"on {client.name}"), plan.paths)
        if plan.via == "ssh":
            password = queries.reveal_client_secret(
                session, key, client.id, ClientSecretName.DATABASE_PASSWORD
            )
            _check_databases_on_client(report, client, plan, password, SshCommands(transport, login.target))
    except (EOFError, paramiko.SSHException) as error:
        report.add("SSH connection", login.target, FAILED, f"the connection dropped: {error}", "try again")
    finally:
        transport.close()
    if plan.via != "ssh":
        _check_database_part(report, session, key, client, plan)


def _check_databases_on_client(
    report: Report, client: Client, plan: _Plan, password: str | None, commands: SshCommands
) -> None:
    """Check the database server (with its ``password``) from the SSH client, where its dumps run."""
    if not plan.checks_databases:
        return
    if not plan.database_url:
        _database_address(report, client, "", None)
        return
    try:
        address = parse_address(plan.database_url)
    except ConfigurationError as error:
        report.add("database server reachable", client.name, FAILED, error.message, error.hint or "")
        return
    check_databases_over_ssh(report, commands, address.with_password(password), plan.databases)


def _check_database_part(
    report: Report, session: Session, key: SecretKey, client: Client, plan: _Plan
) -> None:
    if not plan.checks_databases:
        return
    password = queries.reveal_client_secret(session, key, client.id, ClientSecretName.DATABASE_PASSWORD)
    address = _database_address(report, client, plan.database_url, password)
    if address is not None:
        check_databases(report, address, plan.databases)


def _skip_paths(report: Report, paths: list[str], reason: str) -> None:
    for path in paths:
        report.add("path exists", path, SKIPPED, f"not checked: {reason}")


def _skip_databases(report: Report, plan: _Plan, reason: str) -> None:
    for name in plan.databases:
        report.add("database exists", name, SKIPPED, f"not checked: {reason}")


def _skip_rest(report: Report, plan: _Plan, reason: str) -> None:
    _skip_paths(report, plan.paths, reason)
    for name in plan.databases:
        report.add("database exists", name, SKIPPED, f"not checked: {reason}")


def run_checks(session: Session, key: SecretKey, client: Client, request: ConnectivityRequest) -> Report:
    """Run every check on ``client`` and return the report (not stored).

    Raises:
        NotFound: the job or repository named does not exist.
        UsageError: the job backs up another client, or too much is asked.
        SecretKeyError: the catalog key does not open the client's secrets.
    """
    from resguardo.services.connectivity.space import check_free_space

    plan = _plan(session, client, request)
    report = Report(client.name)
    if client.transport is Transport.SSH:
        _check_ssh_client(report, session, key, client, plan)
    else:
        check_paths(report, LocalFiles(), plan.paths)
        _check_database_part(report, session, key, client, plan)
    if not plan.paths and not plan.checks_databases:
        report.add(
            "what to back up",
            client.name,
            SKIPPED,
            "no path or database given",
            "give paths, databases or a job of this client to check them too",
        )
    check_free_space(report, session, key, plan.repository, int(report.summary()["estimated_bytes"]))
    return report


def run_client_test(
    session: Session,
    key: SecretKey,
    client_id: int,
    request: ConnectivityRequest,
    *,
    now: datetime,
    tested_by: str,
) -> dict[str, Any]:
    """Test ``client_id``, store the report as its last test (flushed, not committed) and return it.

    Returns:
        the stored document: ``client``, ``items``, ``summary``, ``tested_at``, ``tested_by``.

    Raises:
        NotFound: no such client, job or repository.
        UsageError: the job backs up another client, or too much is asked.
        SecretKeyError: the catalog key does not open the client's secrets.
    """
    client = queries.get_client(session, client_id)
    report = run_checks(session, key, client, request).document()
    stored = queries.store_client_test(session, client.id, report, now=now, tested_by=tested_by)
    return stored_document(stored.report, stored.tested_at, stored.tested_by)


def stored_document(report: dict[str, Any], tested_at: datetime, tested_by: str) -> dict[str, Any]:
    """Return a stored report with when and by whom it was made."""
    return {**report, "tested_at": tested_at.isoformat(), "tested_by": tested_by}
