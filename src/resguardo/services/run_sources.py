"""What a job's run backs up, by the kind of its source: the engine call to make, and its description.

:func:`opened_source` reads the job's source document (see :mod:`resguardo.catalog.sources`) and its
client, reveals the client's sealed SSH key or database password in memory only, and yields a
:class:`SourceBackup`: a description for the run log (never a secret) and the backup to make into an
open repository:

- ``paths`` on a local client: the engine's file backup;
- ``paths`` on an SSH client: the remote tree backup over SSH (host key checked against the stored one);
- ``postgresql`` and ``mysql``: one stream per database (dumped by the server's tools) into one snapshot;
  on an SSH client the tools run there and the dumps stream back over SSH (unless ``via`` is ``direct``);
- ``sqlite``: one stream per database file, copied with SQLite's online backup API.

A failing dump stops the whole stream backup: no snapshot is saved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from resguardo.catalog import ClientSecretName, SecretKey, Transport, queries
from resguardo.catalog.models import Client, Job
from resguardo.catalog.sources import DATABASE_KINDS, SOURCE_KINDS, database_via
from resguardo.core.errors import ConfigurationError
from resguardo.engine.archiver import BackupOptions, BackupResult, backup
from resguardo.engine.events import Reporter
from resguardo.engine.repository import Repository
from resguardo.engine.streams import StreamsOptions, StreamSource, backup_streams
from resguardo.sources.addresses import DatabaseAddress, parse_address

if TYPE_CHECKING:
    from resguardo.backends._sftp_connect import Credentials, SftpLocation

MAX_SHOWN_ITEMS = 10


@dataclass(frozen=True)
class SourceSettings:
    """How the worker backs up: snapshot tags, the engine's metadata cache."""

    tags: list[str]
    cache_directory: str | None = None


@dataclass(frozen=True)
class SourceBackup:
    """One job's backup, ready to run: ``description`` for the log, ``run`` into an open repository."""

    description: str
    run: Callable[[Repository, Reporter], BackupResult]


def _shown(items: list[str]) -> str:
    """Return up to MAX_SHOWN_ITEMS items joined by commas, with how many more."""
    more = len(items) - MAX_SHOWN_ITEMS
    return ", ".join(items[:MAX_SHOWN_ITEMS]) + (f" and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class _Opening:
    """What opening a source needs: the catalog (for the client's secrets), the job, the settings, and the
    stack that closes connections and private files."""

    session: Session
    key: SecretKey
    job: Job
    settings: SourceSettings
    stack: ExitStack

    @property
    def client(self) -> Client:
        return self.job.client

    def secret(self, name: ClientSecretName) -> str | None:
        """Return a sealed secret of the client, revealed in memory (None when none is sealed)."""
        return queries.reveal_client_secret(self.session, self.key, self.job.client_id, name)


def _texts(source: dict[str, Any], field: str) -> list[str]:
    return [str(item) for item in source.get(field) or []]


@contextmanager
def opened_source(
    session: Session, key: SecretKey, job: Job, settings: SourceSettings
) -> Iterator[SourceBackup]:
    """Yield the backup of ``job``'s source; connections and private files are closed on exit.

    Raises:
        ConfigurationError: the source is not set or of no known kind, or names nothing to back up; the
            client lacks its SSH key, host key or database address.
        SourceError: an SSH client cannot be reached or refuses the key, or its host key changed.
        SecretKeyError: the catalog key does not open the client's secrets.
    """
    source: dict[str, Any] = dict(job.source or {})
    kind = source.get("kind")
    if kind not in SOURCE_KINDS:
        raise ConfigurationError(
            f"job {job.name!r} has a source of kind {kind!r}, which workers cannot run",
            f"set a source of kind {', '.join(SOURCE_KINDS)}, e.g. "
            '{"kind": "paths", "paths": ["/srv/data"], "excludes": []}',
        )
    with ExitStack() as stack:
        opening = _Opening(session, key, job, settings, stack)
        if kind in DATABASE_KINDS:
            yield _database_backup(opening, source)
        elif kind == "sqlite":
            yield _sqlite_backup(opening, source)
        elif job.client.transport is Transport.SSH:
            yield _ssh_backup(opening, source)
        else:
            yield _local_backup(opening, source)


def _required_paths(job: Job, source: dict[str, Any]) -> list[str]:
    paths = _texts(source, "paths")
    if not paths:
        raise ConfigurationError(f"job {job.name!r} names no paths to back up", "set source.paths")
    return paths


def _local_backup(opening: _Opening, source: dict[str, Any]) -> SourceBackup:
    paths = _required_paths(opening.job, source)
    settings = opening.settings
    options = BackupOptions(
        excludes=_texts(source, "excludes"),
        one_file_system=bool(source.get("one_file_system", False)),
        tags=settings.tags,
        hostname=opening.client.name,
        processes=False,  # a worker has threads (heartbeats): no fork under them
        cache_dir=settings.cache_directory,
    )

    def run(repository: Repository, reporter: Reporter) -> BackupResult:
        return backup(repository, paths, options, reporter)

    return SourceBackup(f"paths {_shown(paths)}", run)


def _sqlite_backup(opening: _Opening, source: dict[str, Any]) -> SourceBackup:
    from resguardo.sources.sqlite import SqliteSource

    job, client = opening.job, opening.client
    paths = _required_paths(job, source)
    if client.transport is not Transport.LOCAL:
        raise ConfigurationError(
            f"job {job.name!r} copies SQLite files of client {client.name!r}, which is reached over SSH",
            "SQLite sources run on a local client; back the files up as paths instead",
        )
    streams = SqliteSource(paths).streams()
    return _streams_backup(f"sqlite databases {_shown(paths)}", streams, opening)


def _streams_backup(description: str, streams: list[StreamSource], opening: _Opening) -> SourceBackup:
    options = StreamsOptions(tags=opening.settings.tags, hostname=opening.client.name)

    def run(repository: Repository, reporter: Reporter) -> BackupResult:
        return BackupResult(backup_streams(repository, streams, options, reporter).snapshot, [])

    return SourceBackup(description, run)


def _database_backup(opening: _Opening, source: dict[str, Any]) -> SourceBackup:
    from resguardo.services.connectivity.run import client_database_address
    from resguardo.sources.mysql import MysqlSource
    from resguardo.sources.postgresql import PostgresSource

    kind, client, stack = str(source["kind"]), opening.client, opening.stack
    url = str(source.get("url") or client.database_url)
    if not url:
        raise ConfigurationError(
            f"client {client.name!r} has no database_url for the {kind} source",
            f"resguardo client edit {client.name} --db-server {kind}://USER@HOST/",
        )
    password = opening.secret(ClientSecretName.DATABASE_PASSWORD)
    databases = _texts(source, "databases")
    chosen = _shown(databases) if databases else "all databases"
    if database_via(source, client) == "ssh":
        address = parse_address(url, kind).with_password(password)
        streams = _streams_over_ssh(opening, address, databases)
        description = (
            f"{kind} {chosen} of {address.display()} on {client.name} over SSH ({len(streams)} streams)"
        )
        return _streams_backup(description, streams, opening)
    address = client_database_address(client, url, kind).with_password(password)
    if kind == "postgresql":
        streams = stack.enter_context(PostgresSource(address, databases)).streams()
    else:
        streams = stack.enter_context(MysqlSource(address, databases)).streams()
    description = f"{kind} {chosen} of {address.display()} ({len(streams)} streams)"
    return _streams_backup(description, streams, opening)


def _streams_over_ssh(
    opening: _Opening, address: DatabaseAddress, databases: list[str]
) -> list[StreamSource]:
    """Connect to the SSH client (kept open on the stack) and return the streams its tools dump."""
    from resguardo.sources.sshcommand import SshClientConnection
    from resguardo.sources.sshmysql import SshMysqlSource
    from resguardo.sources.sshpostgresql import SshPostgresSource

    location, credentials = ssh_access(opening.session, opening.key, opening.client)
    connection = opening.stack.enter_context(SshClientConnection(location, credentials))
    if address.kind == "postgresql":
        return SshPostgresSource(connection.commands, address, databases).streams()
    return SshMysqlSource(connection.commands, address, databases).streams()


def _ssh_backup(opening: _Opening, source: dict[str, Any]) -> SourceBackup:
    from resguardo.engine.remotetree import RemoteBackupOptions, backup_remote_tree, normalize_remote_paths
    from resguardo.sources.sshtree import SshTreeSource

    job, client = opening.job, opening.client
    paths = _required_paths(job, source)
    normalize_remote_paths(paths)
    location, credentials = ssh_access(opening.session, opening.key, client)
    tree = SshTreeSource(location, credentials)
    opening.stack.callback(tree.close)
    tree.connect()
    options = RemoteBackupOptions(
        hostname=client.name,
        username=location.user or "root",
        excludes=_texts(source, "excludes"),
        one_file_system=bool(source.get("one_file_system", False)),
        tags=opening.settings.tags,
    )

    def run(repository: Repository, reporter: Reporter) -> BackupResult:
        return backup_remote_tree(repository, tree, paths, options, reporter)

    return SourceBackup(f"paths {_shown(paths)} of {tree.address} over SSH", run)


def ssh_access(session: Session, key: SecretKey, client: Client) -> tuple[SftpLocation, Credentials]:
    """Return where and how to reach an SSH client: its address and the credentials sealed for it (its
    private key, revealed in memory, and the only host key trusted, the stored one).

    Raises:
        ConfigurationError: the client has no SSH private key or no host key in the catalog.
        SecretKeyError: the catalog key does not open the client's secrets.
    """
    from resguardo.backends._sftp_connect import Credentials, SftpLocation

    private_key = queries.reveal_client_secret(session, key, client.id, ClientSecretName.SSH_PRIVATE_KEY)
    if private_key is None or not client.ssh_host_key.strip():
        missing = "SSH private key" if private_key is None else "host key"
        raise ConfigurationError(
            f"client {client.name!r} has no {missing} in the catalog",
            f"resguardo client edit {client.name} --ssh-key-file FILE --ssh-host-key KEY, then "
            f"resguardo client test {client.name}",
        )
    credentials = Credentials(
        key_text=private_key,
        key_passphrase=queries.reveal_client_secret(
            session, key, client.id, ClientSecretName.SSH_KEY_PASSPHRASE
        ),
        host_keys_text=client.ssh_host_key,
        origin=f"of client {client.name!r} in the catalog",
    )
    return SftpLocation(client.ssh_user or "root", client.address, client.port, "/"), credentials
